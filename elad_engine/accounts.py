"""Accounts and roles: users with scrypt-hashed passwords (memory-hard, stdlib `hashlib.scrypt`), the acting `User`
every service call carries, and what each role may do. admin: projects, rounds, export, users; reviewer: review;
viewer: read only. Without accounts the app acts as one explicit single-user admin; the CLI and the worker act as
system users. CLI: `python -m elad_engine user add NAME --role admin` (the password from the terminal or stdin).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from enum import StrEnum

from .errors import EladError
from .store import Store


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    VIEWER = "viewer"
    VISITOR = "visitor"  # not logged in (accounts exist): may only log in; never stored


ROLES = (Role.ADMIN, Role.REVIEWER, Role.VIEWER)  # the roles an account can have


class Permission(StrEnum):
    PUBLIC = "public"  # log in, create the first admin: anyone who reaches the app
    READ = "read"
    REVIEW = "review"
    SETTLE = "settle"  # decide a conflict between reviewers
    RUN = "run"  # start / pause / cancel rounds
    CONFIGURE = "configure"  # create and import projects, change settings
    EXPORT = "export"
    USERS = "users"


PERMISSIONS: dict[Permission, tuple[Role, ...]] = {  # permission -> roles that have it
    Permission.PUBLIC: (*ROLES, Role.VISITOR),
    Permission.READ: ROLES,
    Permission.REVIEW: (Role.ADMIN, Role.REVIEWER),
    Permission.SETTLE: (Role.ADMIN,),
    Permission.RUN: (Role.ADMIN,),
    Permission.CONFIGURE: (Role.ADMIN,),
    Permission.EXPORT: (Role.ADMIN,),
    Permission.USERS: (Role.ADMIN,),
}
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # about 16 MB and 50 ms a check: slow to brute-force
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 10


class UserKind(StrEnum):
    ACCOUNT = "account"  # logged in with a password
    SINGLE_USER = "single-user"  # a workspace without accounts
    SYSTEM = "system"  # the CLI's operator, the worker
    VISITOR = "visitor"  # accounts exist and nobody has logged in yet


class AccessDenied(EladError):
    """The user's role does not allow the action."""


@dataclass(frozen=True)
class User:
    """Who acts: a logged-in account, the single user of a workspace without accounts, a system actor (the CLI's
    operator, the worker), or a visitor who has not logged in yet. `name` is recorded on every review."""

    name: str
    role: Role
    kind: UserKind = UserKind.ACCOUNT

    @classmethod
    def single_user(cls, name: str = "") -> User:
        """A workspace without accounts: whoever reaches the app may do everything, under the name they give."""
        return cls(name.strip(), Role.ADMIN, UserKind.SINGLE_USER)

    @classmethod
    def system(cls, name: str) -> User:
        return cls(name, Role.ADMIN, UserKind.SYSTEM)

    @classmethod
    def visitor(cls) -> User:
        return cls("", Role.VISITOR, UserKind.VISITOR)

    def may(self, permission: Permission) -> bool:
        return self.role in PERMISSIONS[permission]


def require(user: User, permission: Permission) -> None:
    """Raise AccessDenied unless `user` may do `permission`; there is no user that skips the check."""
    if not isinstance(user, User):
        raise AccessDenied(f"no acting user: every action needs one (got {user!r})")
    if not user.may(permission):
        who = f"{user.name} is a {user.role}" if user.role != Role.VISITOR else "you are not logged in"
        allowed = " or ".join(PERMISSIONS[permission])
        raise AccessDenied(f"{who}: only {allowed} may {permission}.")


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, maxmem=64 * 1024 * 1024, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(digest) // 2, maxmem=64 * 1024 * 1024)
    return hmac.compare_digest(candidate.hex(), digest)


def add_user(store: Store, name: str, password: str, role: str) -> None:
    if not NAME.match(name or ""):
        raise EladError(f"user name {name!r} is not allowed: 1-64 letters, digits, '_', '.', '@' or '-'.")
    if role not in ROLES:
        raise EladError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}.")
    if len(password or "") < MIN_PASSWORD:
        raise EladError(f"the password is too short: use at least {MIN_PASSWORD} characters.")
    store.users.add(name, hash_password(password), Role(role))


def authenticate(store: Store, name: str, password: str) -> User:
    """The user if the password is right; one message for every failure, so a caller cannot learn which user
    names exist."""
    row = store.users.get(name or "")
    stored = row["password_hash"] if row else hash_password("decoy-password")  # same time either way
    if not verify_password(password or "", stored) or row is None:
        raise AccessDenied("unknown user or wrong password")
    return User(row["name"], Role(row["role"]))
