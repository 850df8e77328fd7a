"""The people part of the store: user accounts and the claims reviewers hold on samples. Same database and
connection as store.py (Store mixes this in); only SQL lives here, the rules are in accounts.py and review.py.
"""

from __future__ import annotations

import time

from .errors import StoreError

UNDECIDED = ("pending", "teacher_failed", "conflict")  # conflict: reviewers disagreed; an admin decides


class PeopleTables:
    """Mixed into Store: expects self.db (sqlite_utils.Database) and self.transaction()."""

    def claim_revision(self, candidates: list[int], reviewer: str, ttl_s: float) -> int | None:
        """The first of `candidates` (queue order) that is undecided and claimed by nobody else, now claimed
        by `reviewer` for ttl_s seconds; None when there is none. Atomic across processes."""
        now = time.time()
        with self.transaction():
            self.db.execute("DELETE FROM review_claims WHERE expires_at <= ?", [now])
            others = {r[0] for r in self.db.execute("SELECT revision_id FROM review_claims WHERE reviewer != ?",
                                                     [reviewer])}
            for rid in candidates:
                row = self.db.execute("SELECT status FROM revisions WHERE id=?", [rid]).fetchone()
                if rid in others or not row or row[0] not in UNDECIDED:
                    continue
                self.db.execute("INSERT OR REPLACE INTO review_claims VALUES (?, ?, ?)", [rid, reviewer, now + ttl_s])
                return rid
        return None

    def claimed_by_others(self, reviewer: str) -> dict[int, str]:
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT revision_id, reviewer FROM review_claims WHERE reviewer != ? AND expires_at > ?",
            [reviewer, time.time()])}

    def add_user(self, name: str, password_hash: str, role: str) -> None:
        with self.transaction():
            if self.user(name):
                raise StoreError(f"a user named {name!r} exists already")
            self.db["users"].insert({"name": name, "password_hash": password_hash, "role": role,
                                     "created_at": time.time()})

    def user(self, name: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM users WHERE name = ?", [name]))
        return rows[0] if rows else None

    def users(self) -> list[dict]:
        return [{"name": r["name"], "role": r["role"]} for r in self.db.query("SELECT * FROM users ORDER BY name")]

