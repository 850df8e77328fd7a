"""Accounts and roles: users with scrypt-hashed passwords (memory-hard, stdlib `hashlib.scrypt`), and what
each role may do. admin: projects, rounds, export, users; reviewer: review; viewer: read only.
CLI: `python -m elad_engine user add NAME --role admin` (the password is read from the terminal or stdin).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from .errors import EladError
from .store import Store

ROLES = ("admin", "reviewer", "viewer")
PERMISSIONS = {  # action -> roles allowed
    "read": ROLES,
    "review": ("admin", "reviewer"),
    "run": ("admin",),  # start / pause / cancel rounds
    "configure": ("admin",),  # create and import projects, change settings
    "export": ("admin",),
    "users": ("admin",),
}
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # about 16 MB and 50 ms a check: slow to brute-force
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 10


class AccessDenied(EladError):
    """The user's role does not allow the action."""


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
    store.add_user(name, hash_password(password), role)


def authenticate(store: Store, name: str, password: str) -> dict:
    """The user's {name, role} if the password is right; one message for every failure, so a caller
    cannot learn which user names exist."""
    user = store.user(name or "")
    stored = user["password_hash"] if user else hash_password("decoy-password")  # same time either way
    if not verify_password(password or "", stored) or user is None:
        raise AccessDenied("unknown user or wrong password")
    return {"name": user["name"], "role": user["role"]}


def require(user: dict | None, action: str) -> None:
    """Raise AccessDenied unless `user` may do `action`. With no accounts at all (user None in single-user
    mode) everything is allowed; callers pass the logged-in user otherwise."""
    if user is None:
        return
    if user.get("role") not in PERMISSIONS[action]:
        raise AccessDenied(f"{user.get('name')} is a {user.get('role')}: only {' or '.join(PERMISSIONS[action])} "
                           f"may {action}.")
