"""User accounts (names, scrypt password hashes, roles, active or not) and browser sessions (the sha256 of a
random token, when it expires, whether it was revoked). Only SQL: the rules are in accounts.py."""

from __future__ import annotations

import time
from typing import TypedDict

from ..errors import StoreError
from .database import Database


class UserRow(TypedDict):
    name: str
    password_hash: str
    role: str
    created_at: float
    active: int


class Users:
    def __init__(self, database: Database):
        self.database = database

    def add(self, name: str, password_hash: str, role: str) -> None:
        with self.database.transaction() as db:
            if self.get(name):
                raise StoreError(f"a user named {name!r} exists already")
            db["users"].insert({"name": name, "password_hash": password_hash, "role": role, "created_at": time.time(),
                                "active": 1})

    def get(self, name: str) -> UserRow | None:
        rows = self.database.query("SELECT * FROM users WHERE name = ?", [name])
        return rows[0] if rows else None

    def list(self) -> list[dict]:
        """{name, role, active} of every user (never the hashes)."""
        return self.database.query("SELECT name, role, active FROM users ORDER BY name")

    def exist(self) -> bool:
        return self.database.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def active_admins(self) -> list[str]:
        return [r["name"] for r in self.database.query(
            "SELECT name FROM users WHERE role = 'admin' AND active = 1 ORDER BY name")]

    def update(self, name: str, **fields) -> None:
        """Change `role`, `password_hash` or `active` of an existing user."""
        unknown = set(fields) - {"role", "password_hash", "active"}
        if unknown:
            raise StoreError(f"users: cannot change {sorted(unknown)}")
        with self.database.transaction() as db:
            if not self.get(name):
                raise StoreError(f"no user named {name!r}")
            db["users"].update(name, fields)


class Sessions:
    def __init__(self, database: Database):
        self.database = database

    def add(self, token_hash: str, user: str, expires_at: float) -> None:
        with self.database.transaction() as db:
            db["sessions"].insert({"token_hash": token_hash, "user": user, "created_at": time.time(),
                                   "expires_at": expires_at, "revoked_at": None})

    def get(self, token_hash: str) -> dict | None:
        rows = self.database.query("SELECT * FROM sessions WHERE token_hash = ?", [token_hash])
        return rows[0] if rows else None

    def revoke(self, token_hash: str) -> None:
        with self.database.transaction() as db:
            db.execute("UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                       [time.time(), token_hash])

    def revoke_user(self, user: str) -> int:
        """End every open session of `user`; how many were open."""
        with self.database.transaction() as db:
            return db.execute("UPDATE sessions SET revoked_at = ? WHERE user = ? AND revoked_at IS NULL",
                              [time.time(), user]).rowcount

    def open_count(self, user: str) -> int:
        return self.database.execute("SELECT COUNT(*) FROM sessions WHERE user = ? AND revoked_at IS NULL AND "
                                     "expires_at > ?", [user, time.time()]).fetchone()[0]
