"""The workspace's SQLite file: one connection (WAL mode), write transactions, the schema (schema.sql) and its
migrations (migrations.py). The repositories beside this module run their SQL through a `Database`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import LeaseLost, StoreError
from .migrations import MIGRATIONS

log = logging.getLogger(__name__)

SCHEMA_VERSION = 11
FENCE_ENV = "ELAD_FENCE"  # "job:lease" for the ranks a job launches: their writes are fenced by its lease too
DISK_ERRORS = ("disk I/O error", "disk is full", "database or disk is full")  # SQLite's words for ENOSPC / EFBIG
SCHEMA = (resources.files(__package__) / "schema.sql").read_text(encoding="utf-8")  # version SCHEMA_VERSION


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def id_list(ids: Iterable[str]) -> str:
    """One SQL parameter holding many ids: `... IN (SELECT value FROM json_each(?))`, with no size limit."""
    return json.dumps(list(ids))


def statements(script: str) -> list[str]:
    """Split a SQL script into statements (executescript would commit the open transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


class Database:
    """One workspace database. Every multi-row write is one transaction, so a crash leaves nothing half-done."""

    def __init__(self, workspace: str | Path, busy_timeout_s: float = 60.0):
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.fence: tuple[int, int] | None = None  # (job id, lease) a worker writes under; see _check_fence
        self.refused = 0  # writes refused because the fence's lease was lost
        self.path = self.workspace / "elad.db"
        conn = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self.db.enable_wal()
            # In WAL mode NORMAL still survives a killed process (only a power cut can lose the last commits), and
            # it makes each commit an append instead of an fsync: the teacher ledger commits once per call.
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.OperationalError as e:
            if not any(sign in str(e) for sign in DISK_ERRORS):
                raise
            raise StoreError(f"cannot open the workspace database {self.path} ({e}): is the disk full, or a file "
                             "size limit reached? Free some space and try again.") from None
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def execute(self, sql: str, args: Iterable | None = None) -> sqlite3.Cursor:
        return self.db.execute(sql, list(args or []))

    def query(self, sql: str, args: Iterable | None = None) -> list[dict]:
        return list(self.db.query(sql, list(args or [])))

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction (nested calls join it). BEGIN IMMEDIATE takes the write lock up front, so a
        read-then-write never fails on a stale WAL snapshot; busy_timeout makes other writers wait."""
        with self.lock:
            if self.db.conn.in_transaction:
                with self.db.atomic():  # a savepoint inside the open transaction
                    yield self.db
                return
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    if self.fence is not None:
                        self._check_fence()
                    yield self.db
                except LeaseLost:
                    raise  # rolled back already
                except BaseException:
                    self._rollback()
                    raise
                try:
                    self.db.execute("COMMIT")
                except sqlite3.OperationalError:
                    self._rollback()
                    raise
            except sqlite3.OperationalError as e:
                if not any(sign in str(e) for sign in DISK_ERRORS):
                    raise
                raise StoreError(f"could not write the workspace database {self.path} ({e}): is the disk full, or "
                                 "a file size limit reached? Nothing of this write was kept; free some space and "
                                 "resume.") from None

    def _rollback(self) -> None:
        try:
            self.db.rollback()
        except sqlite3.Error as e:  # a failed write can leave no transaction to roll back; the first error counts
            log.warning("rollback after a failed write of %s: %s", self.path, e)

    def _check_fence(self) -> None:
        """Under the write lock: the job's lease is still this worker's, or the write is refused (LeaseLost). A
        worker that stalled past its lease (a paused process, a database it could not reach) and was replaced can
        therefore never write again for that job."""
        job_id, lease = self.fence
        row = self.db.execute("SELECT lease, status FROM jobs WHERE id = ?", [job_id]).fetchone()
        if row is None or row[0] != lease or row[1] not in ("running", "stopping"):
            self.refused += 1
            self.db.rollback()
            raise LeaseLost(f"job {job_id}: this worker's lease {lease} is gone (the job now has lease "
                            f"{row[0] if row else '-'}, status {row[1] if row else '-'}): write refused")

    def copy_to(self, target: Path) -> None:
        """A consistent copy of the live database in the new file `target`, through SQLite's online backup API
        (one read snapshot; WAL lets writers go on), checked with integrity_check."""
        source, copy = sqlite3.connect(self.path, timeout=60), sqlite3.connect(target)
        try:
            source.backup(copy)  # pages=-1: every page in one step, under one read snapshot
            ok = copy.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            source.close()
            copy.close()
        if ok != "ok":
            target.unlink(missing_ok=True)
            raise StoreError(f"the backup copy failed its integrity check ({ok}); the workspace is unchanged.")

    def schema_version(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    def table_counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in self.db.table_names()}

    def _stored_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        if self._stored_version() == SCHEMA_VERSION:
            return  # the common case: nothing to write, so opening never contends for the write lock
        # A migration that rebuilds a table (to add CHECK constraints) must not trip the foreign keys that point
        # at it; the pragma only changes outside a transaction, and the keys are checked before the commit.
        self.db.execute("PRAGMA foreign_keys = OFF")
        try:
            with self.transaction():
                self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                version = self._stored_version()
                if version > SCHEMA_VERSION:
                    raise StoreError(f"{self.path} has schema version {version}, newer than this ELAD Studio "
                                     f"({SCHEMA_VERSION}); upgrade the software before opening it.")
                if version == 0:
                    for statement in statements(SCHEMA):
                        self.db.execute(statement)
                    version = SCHEMA_VERSION
                while version < SCHEMA_VERSION:
                    self._apply(version)
                    version += 1
                broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(f"{self.path}: the migration to schema {SCHEMA_VERSION} found rows whose "
                                     f"references are broken ({broken[:3]}); nothing was changed.")
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])
        finally:
            self.db.execute("PRAGMA foreign_keys = ON")

    def _apply(self, version: int) -> None:
        """The migration from `version` to the next: SQL, and table rebuilds that keep every row."""
        step = MIGRATIONS[version]
        for statement in statements(step.sql):
            self.db.execute(statement)
        for table, create in step.rebuild.items():
            columns = ", ".join(c.name for c in self.db[table].columns)
            self.db.execute(create.format(name=f"{table}__new"))
            try:
                self.db.execute(f"INSERT INTO {table}__new ({columns}) SELECT {columns} FROM {table}")
            except sqlite3.IntegrityError as e:
                raise StoreError(f"{self.path}: table {table} has a row the schema {version + 1} constraints refuse "
                                 f"({e}); nothing was changed. Fix or remove that row, then open the workspace "
                                 "again.") from None
            self.db.execute(f"DROP TABLE {table}")
            self.db.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
        for statement in statements(step.after):
            self.db.execute(statement)
