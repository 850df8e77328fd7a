"""The job queue: jobs the web app (or the CLI) queues and a worker claims, their log lines, and the workers'
heartbeats. Only SQL: what a job does is in jobs/worker.py."""

from __future__ import annotations

import time
from typing import Any, TypedDict

from ..errors import StoreError
from ..states import JobKind, JobStatus
from .database import Database, from_json, to_json


class JobRow(TypedDict):
    id: int
    project_id: int | None
    kind: JobKind
    args: dict
    status: JobStatus
    progress: int
    total: int
    message: str | None
    error: str | None
    worker_pid: int | None  # the OS process running it
    heartbeat: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    phase: str | None
    phase_started: float | None
    phase_start_done: int | None
    lease: int  # the generation of the current worker's hold (fencing: every write of the job checks it)
    lease_expires: float | None
    result: Any  # what the job handed back (JSON), e.g. the answer of a try-out; None for most kinds


class LogLine(TypedDict):
    id: int
    job_id: int
    created_at: float
    line: str


def _job(row: dict) -> JobRow:
    return dict(row, args=from_json(row["args"]), status=JobStatus(row["status"]), kind=JobKind(row["kind"]),
                result=from_json(row.get("result")))


class Jobs:
    def __init__(self, database: Database):
        self.database = database

    def enqueue(self, project_id: int | None, kind: JobKind, args: dict | None = None) -> int:
        with self.database.transaction() as db:
            return db["jobs"].insert({"project_id": project_id, "kind": kind, "args": to_json(args or {}),
                                      "status": JobStatus.QUEUED, "created_at": time.time()}).last_pk

    def claim(self, worker_pid: int, lease_s: float) -> JobRow | None:
        """Atomically take the oldest queued job for the worker process `worker_pid`, under a new lease (the job's
        lease generation + 1, valid `lease_s` seconds unless renewed): the returned row's `lease`."""
        now = time.time()
        with self.database.transaction():
            row = self.database.execute(
                "UPDATE jobs SET status=?, worker_pid=?, started_at=?, heartbeat=?, lease=lease+1, lease_expires=? "
                "WHERE id=(SELECT id FROM jobs WHERE status=? ORDER BY id LIMIT 1) RETURNING id",
                [JobStatus.RUNNING, worker_pid, now, now, now + lease_s, JobStatus.QUEUED]).fetchone()
        return self.get(row[0]) if row else None

    def get(self, job_id: int) -> JobRow:
        rows = self.database.query("SELECT * FROM jobs WHERE id = ?", [job_id])
        if not rows:
            raise StoreError(f"No job with id {job_id}.")
        return _job(rows[0])

    def update(self, job_id: int, **fields: Any) -> None:
        fields["heartbeat"] = time.time()
        if "result" in fields:
            fields["result"] = to_json(fields["result"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.database.transaction():
            self.database.execute(f"UPDATE jobs SET {cols} WHERE id = ?", [*fields.values(), job_id])

    def list(self, project_id: int | None = None, kind: JobKind | None = None) -> list[JobRow]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if project_id is not None:
            sql, args = sql + " AND project_id = ?", [*args, project_id]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        return [_job(r) for r in self.database.query(sql + " ORDER BY id", args)]

    def log(self, job_id: int, line: str) -> None:
        with self.database.transaction() as db:
            db["job_log"].insert({"job_id": job_id, "created_at": time.time(), "line": line})

    def log_lines(self, job_id: int, last: int = 200) -> list[LogLine]:
        return self.database.query("SELECT * FROM (SELECT * FROM job_log WHERE job_id=? ORDER BY id DESC LIMIT ?) "
                                   "ORDER BY id", [job_id, last])

    def requeue_stale(self, older_than_s: float) -> list[int]:
        """Running jobs whose lease ran out (the worker was killed, or stalled past it): back to the queue, to be
        resumed under a new lease; a stalled worker's writes for them are refused from then on (fencing)."""
        now = time.time()
        expired = "COALESCE(lease_expires, heartbeat + ?) < ?"  # rows from before leases: by their heartbeat
        with self.database.transaction():
            self.database.execute(f"UPDATE jobs SET status=?, finished_at=? WHERE status=? AND {expired}",
                                  [JobStatus.PAUSED, now, JobStatus.STOPPING, older_than_s, now])  # asked to stop
            rows = self.database.execute(f"UPDATE jobs SET status=?, worker_pid=NULL WHERE status=? AND {expired} "
                                         "RETURNING id", [JobStatus.QUEUED, JobStatus.RUNNING, older_than_s,
                                                          now]).fetchall()
        return [r[0] for r in rows]


class Workers:
    """Worker processes by OS pid, and their heartbeats."""

    def __init__(self, database: Database):
        self.database = database

    def beat(self, worker_pid: int, held: tuple[int, int] | None = None, lease_s: float = 0.0) -> bool:
        """The worker's heartbeat; with `held` (job id, lease), the job's lease renewed for `lease_s` more seconds.
        False when that lease is no longer the job's (another worker took the job over)."""
        now = time.time()
        with self.database.transaction():
            self.database.execute("INSERT INTO workers VALUES (?, ?, ?) ON CONFLICT(pid) DO UPDATE SET heartbeat="
                                  "excluded.heartbeat", [worker_pid, now, now])
            if held is None:
                return True
            return self.database.execute(
                "UPDATE jobs SET heartbeat=?, lease_expires=? WHERE id=? AND lease=? AND status IN (?, ?)",
                [now, now + lease_s, *held, JobStatus.RUNNING, JobStatus.STOPPING]).rowcount == 1

    def forget(self, worker_pid: int) -> None:
        with self.database.transaction():
            self.database.execute("DELETE FROM workers WHERE pid=?", [worker_pid])

    def live(self, within_s: float) -> list[int]:
        """The OS pids of workers that beat within the last `within_s` seconds."""
        return [r[0] for r in self.database.execute("SELECT pid FROM workers WHERE heartbeat > ?",
                                                    [time.time() - within_s])]
