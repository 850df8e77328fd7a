"""The job queue part of the store: jobs the web app enqueues and the worker claims, their log, and the
workers' heartbeats. Same database and connection as store.py (Store mixes this in); only SQL lives here.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from .errors import StoreError


def _j(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _l(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class JobQueue:
    """Mixed into Store: expects self.db (sqlite_utils.Database) and self.transaction()."""

    def enqueue_job(self, pid: int | None, kind: str, args: dict | None = None) -> int:
        with self.transaction():
            return self.db["jobs"].insert({"project_id": pid, "kind": kind, "args": _j(args or {}),
                                           "status": "queued", "created_at": time.time()}).last_pk

    def claim_job(self) -> dict | None:
        """Atomically take the oldest queued job for this process."""
        with self.transaction():
            row = self.db.execute("UPDATE jobs SET status='running', worker_pid=?, started_at=?, heartbeat=? WHERE id="
                                  "(SELECT id FROM jobs WHERE status='queued' ORDER BY id LIMIT 1) RETURNING id",
                                  [os.getpid(), time.time(), time.time()]).fetchone()
        return self.job(row[0]) if row else None

    def job(self, job_id: int) -> dict:
        row = next(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]), None)
        if row is None:
            raise StoreError(f"No job with id {job_id}.")
        return dict(row, args=_l(row["args"]))

    def update_job(self, job_id: int, **fields: Any) -> None:
        fields["heartbeat"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction():
            self.db.execute(f"UPDATE jobs SET {cols} WHERE id = ?", [*fields.values(), job_id])

    def jobs(self, pid: int | None = None) -> list[dict]:
        sql, args = "SELECT * FROM jobs", []
        if pid is not None:
            sql, args = sql + " WHERE project_id = ?", [pid]
        return [dict(r, args=_l(r["args"])) for r in self.db.query(sql + " ORDER BY id", args)]

    def log_job(self, job_id: int, line: str) -> None:
        with self.transaction():
            self.db["job_log"].insert({"job_id": job_id, "created_at": time.time(), "line": line})

    def job_log(self, job_id: int, last: int = 200) -> list[dict]:
        return list(self.db.query("SELECT * FROM (SELECT * FROM job_log WHERE job_id=? ORDER BY id DESC LIMIT ?) "
                                  "ORDER BY id", [job_id, last]))

    def beat_worker(self, pid: int) -> None:
        """The worker's heartbeat, and that of the jobs it runs."""
        with self.transaction():
            self.db.execute("INSERT INTO workers VALUES (?, ?, ?) ON CONFLICT(pid) DO UPDATE SET heartbeat="
                            "excluded.heartbeat", [pid, time.time(), time.time()])
            self.db.execute("UPDATE jobs SET heartbeat=? WHERE worker_pid=? AND status IN ('running','stopping')",
                            [time.time(), pid])

    def forget_worker(self, pid: int) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM workers WHERE pid=?", [pid])

    def live_workers(self, within_s: float) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT pid FROM workers WHERE heartbeat > ?", [time.time() - within_s])]

    def requeue_stale_jobs(self, older_than_s: float) -> list[int]:
        """Running jobs whose worker stopped beating (killed): back to the queue, to be resumed."""
        cutoff = time.time() - older_than_s
        with self.transaction():
            self.db.execute("UPDATE jobs SET status='paused', finished_at=? WHERE status='stopping' AND heartbeat < ?",
                            [time.time(), cutoff])  # it was asked to stop anyway
            rows = self.db.execute("UPDATE jobs SET status='queued', worker_pid=NULL WHERE status='running' "
                                   "AND heartbeat < ? RETURNING id", [cutoff]).fetchall()
        return [r[0] for r in rows]

