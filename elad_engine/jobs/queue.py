"""Queueing work for the worker and asking it to stop: one rounds job per project at a time, export jobs, and
pause / cancel requests that a running job honours at its next safe point."""

from __future__ import annotations

import time

from ..errors import EladError
from ..states import ACTIVE_JOB, STOPPED_AS, JobKind, JobStatus
from ..store import Store
from ..store.jobs import JobRow


def enqueue_rounds(store: Store, project_id: int, max_rounds: int | None = None) -> int:
    """Queue a rounds job for the project (one at a time: an active one is returned instead)."""
    for job in store.jobs.list(project_id, JobKind.ROUNDS):
        if job["status"] in ACTIVE_JOB:
            return job["id"]
    return store.jobs.enqueue(project_id, JobKind.ROUNDS, {"max_rounds": max_rounds})


def enqueue_export(store: Store, project_id: int, rnd: int, merged: bool, gguf: bool | None = None) -> int:
    return store.jobs.enqueue(project_id, JobKind.EXPORT, {"round": rnd, "merged": merged, "gguf": gguf})


def request_stop(store: Store, job_id: int, as_status: str = JobStatus.PAUSED) -> None:
    """Ask a queued or running job to stop: a queued one stops at once, a running one at its next safe point."""
    if as_status not in STOPPED_AS:
        raise EladError(f"a job can be stopped as one of {', '.join(STOPPED_AS)}, not {as_status!r}")
    job = store.jobs.get(job_id)
    if job["status"] == JobStatus.QUEUED:
        store.jobs.update(job_id, status=JobStatus(as_status), finished_at=time.time())
    elif job["status"] == JobStatus.RUNNING:
        store.jobs.update(job_id, status=JobStatus.STOPPING, message=JobStatus(as_status))


def active_job(store: Store, project_id: int, kind: JobKind = JobKind.ROUNDS) -> JobRow | None:
    """The project's active job of this kind, else its latest one, else None."""
    jobs = store.jobs.list(project_id, kind)
    live = [j for j in jobs if j["status"] in ACTIVE_JOB]
    return live[-1] if live else (jobs[-1] if jobs else None)
