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
import secrets
import time
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
SESSION_SECONDS = 7 * 24 * 3600  # a browser session lasts a week unless it is revoked (log out, an admin)


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
    if not row["active"]:
        raise AccessDenied(f"the account {row['name']!r} is deactivated: ask an admin to reactivate it")
    return User(row["name"], Role(row["role"]))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(store: Store, user: User, seconds: float = SESSION_SECONDS) -> str:
    """A new browser session for a logged-in `user`: a random token for the browser's cookie; the store keeps only
    its sha256, so a copy of the database cannot be used to log in."""
    token = secrets.token_urlsafe(32)
    store.sessions.add(_token_hash(token), user.name, time.time() + seconds)
    return token


def resume_session(store: Store, token: str) -> User | None:
    """The user of an open session, as the store says now (a changed role counts at once); None when the token is
    unknown, expired or revoked, or its account was deactivated."""
    if not token or len(token) > 200:
        return None
    found = store.sessions.get(_token_hash(token))
    if found is None or found["revoked_at"] is not None or found["expires_at"] <= time.time():
        return None
    row = store.users.get(found["user"])
    if row is None or not row["active"]:
        return None
    return User(row["name"], Role(row["role"]))


def end_session(store: Store, token: str) -> None:
    if token:
        store.sessions.revoke(_token_hash(token))


def _check_keeps_an_admin(store: Store, name: str) -> None:
    if store.users.active_admins() == [name]:
        raise EladError(f"{name!r} is the only active admin: make another user an admin first, so that someone "
                        "can still manage the workspace.")


def set_role(store: Store, name: str, role: str) -> None:
    if role not in ROLES:
        raise EladError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}.")
    with store.transaction():
        row = _existing(store, name)
        if row["role"] == Role.ADMIN and role != Role.ADMIN:
            _check_keeps_an_admin(store, name)
        store.users.update(name, role=Role(role))


def reset_password(store: Store, name: str, password: str) -> int:
    """A new password for `name`; their open sessions end (they log in again). How many sessions ended."""
    if len(password or "") < MIN_PASSWORD:
        raise EladError(f"the password is too short: use at least {MIN_PASSWORD} characters.")
    with store.transaction():
        _existing(store, name)
        store.users.update(name, password_hash=hash_password(password))
        return store.sessions.revoke_user(name)


def set_active(store: Store, name: str, active: bool) -> int:
    """Deactivate (no login, every open session ends at once) or reactivate `name`; how many sessions ended."""
    with store.transaction():
        _existing(store, name)
        if not active:
            _check_keeps_an_admin(store, name)
        store.users.update(name, active=int(active))
        return 0 if active else store.sessions.revoke_user(name)


def _existing(store: Store, name: str) -> dict:
    row = store.users.get(name)
    if row is None:
        raise EladError(f"no user named {name!r}")
    return row
