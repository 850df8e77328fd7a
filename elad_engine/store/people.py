"""User accounts: names, scrypt password hashes and roles. Only SQL: the rules are in accounts.py."""

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


class Users:
    def __init__(self, database: Database):
        self.database = database

    def add(self, name: str, password_hash: str, role: str) -> None:
        with self.database.transaction() as db:
            if self.get(name):
                raise StoreError(f"a user named {name!r} exists already")
            db["users"].insert({"name": name, "password_hash": password_hash, "role": role, "created_at": time.time()})

    def get(self, name: str) -> UserRow | None:
        rows = self.database.query("SELECT * FROM users WHERE name = ?", [name])
        return rows[0] if rows else None

    def list(self) -> list[dict]:
        """{name, role} of every user (never the hashes)."""
        return self.database.query("SELECT name, role FROM users ORDER BY name")

    def exist(self) -> bool:
        return self.database.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None
