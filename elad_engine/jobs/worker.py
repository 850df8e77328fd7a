"""The background worker: claims queued jobs from the workspace's store, runs them through the service layer as the
system user, beats a heartbeat and stops at the next safe point when asked. Run: `python -m elad_engine worker
[--workspace DIR]`; the web app starts one itself (`ensure_worker`) when none is alive. A killed worker's job is
resumed by the next one (spawn.py starts workers).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from ..errors import EladError, LeaseLost
from ..states import STOP_WORDS, STOPPED_AS, JobKind, JobStatus, StopReason
from ..store import Store
from ..store.jobs import JobRow
from .heartbeat import Heartbeat
from .spawn import STALE_S

log = logging.getLogger(__name__)


class JobContext:
    """What a running job reports through: throttled progress, the log, and the stop check."""

    def __init__(self, store: Store, job: JobRow, lost: threading.Event | None = None):
        self.store, self.job = store, job
        self.lost = lost or threading.Event()  # set by the heartbeat when the job's lease is gone
        self._last = 0.0
        self._phase = None

    def progress(self, phase: str, done: int, total: int) -> None:
        now = time.time()
        if phase != self._phase:  # a new phase: its own clock, so the ETA is that phase's
            self._phase = phase
            self.store.jobs.update(self.job["id"], phase=phase, phase_started=now, phase_start_done=done,
                                   progress=done, total=total)
            self._last = now
        elif now - self._last > 0.5 or done == total:
            self.store.jobs.update(self.job["id"], progress=done, total=total)
            self._last = now

    @property
    def phase(self) -> str | None:
        """The phase the job last reported (known here even when the store could not record it)."""
        return self._phase

    def log(self, line: str) -> None:
        self.store.jobs.log(self.job["id"], line)

    def stop_requested(self) -> bool:
        return self.lost.is_set() or self.store.jobs.get(self.job["id"])["status"] == JobStatus.STOPPING

    def stop_as(self) -> JobStatus:
        """What a stop request asked the job to become (paused unless it said cancelled)."""
        asked = self.store.jobs.get(self.job["id"])["message"]
        return JobStatus(asked) if asked in STOPPED_AS else JobStatus.PAUSED


class JobPaused(Exception):
    """The job stopped by itself and can be resumed (e.g. the teacher endpoint is down): it ends paused, not done."""


def run_rounds_job(studio, ctx: JobContext) -> str:
    args = ctx.job["args"] or {}
    outcome = studio.rounds.run(ctx.job["project_id"], max_rounds=args.get("max_rounds"), progress=ctx.progress,
                                cancel=ctx.stop_requested, log=ctx.log)
    ctx.log(f"stopped: {outcome.stop_reason}: {outcome.message}")
    if outcome.stop_reason == StopReason.TEACHER_UNAVAILABLE:
        raise JobPaused(outcome.message)
    if outcome.stop_reason == StopReason.CANCELLED:  # paused and cancelled read differently; both keep their work
        if ctx.stop_as() == JobStatus.PAUSED:
            return f"Paused: {outcome.message}; Resume goes on from there"
        return f"Cancelled: {outcome.message}; starting the rounds again resumes from there"
    return f"{STOP_WORDS[outcome.stop_reason]}: {outcome.message}"


def run_export_job(studio, ctx: JobContext) -> str:
    args = ctx.job["args"] or {}
    ctx.progress("export", 0, 1)
    paths = studio.exports.build(ctx.job["project_id"], args.get("round"), args.get("out"),
                                 merged=args.get("merged", True), gguf=args.get("gguf"))
    ctx.progress("export", 1, 1)
    for k, v in paths.items():
        ctx.log(f"{k}: {v}")
    missing = args.get("gguf") is not False and not any(k.startswith("gguf") for k in paths)
    return f"exported round {args.get('round', 'best')} to {Path(paths['folder']).name}" + (
        " (no GGUF files: its README.md says why)" if missing else "")


def run_reask_job(studio, ctx: JobContext) -> str:
    message = studio.review.ask_again_now(ctx.job["args"]["revision_id"])
    ctx.log(message)
    return message


def run_try_job(studio, ctx: JobContext) -> str:
    args = ctx.job["args"]
    ctx.progress("try", 0, 1)
    answer = studio.exports.try_now(ctx.job["project_id"], args["round"], args["question"])
    ctx.store.jobs.update(ctx.job["id"], result=answer)
    ctx.progress("try", 1, 1)
    return f"round {args['round']}'s student answered: {answer['answer'] or '(no answer line)'}"


def run_student_job(studio, ctx: JobContext) -> str:
    args = ctx.job["args"]
    what = args.get("hub_id") or args.get("package")
    ctx.progress("download" if "hub_id" in args else "install", 0, 0)
    fetched = studio.students.fetch_now(args, lambda done, total: ctx.progress("download", done, total), ctx.log)
    ctx.store.jobs.update(ctx.job["id"], result=fetched)
    return f"{what}: {fetched['note']}"


JOB_KINDS: dict[JobKind, Callable[[object, JobContext], str]] = {
    JobKind.ROUNDS: run_rounds_job, JobKind.EXPORT: run_export_job, JobKind.REASK: run_reask_job,
    JobKind.TRY: run_try_job, JobKind.STUDENT: run_student_job}


def run_job(store: Store, job: JobRow, lost: threading.Event | None = None) -> None:
    """Run one claimed job under its lease: every write it makes is fenced by (job id, lease), so once another
    worker holds the job (this one stalled past the lease) nothing more is written for it from here."""
    store.database.fence, refused = (job["id"], job["lease"]), store.database.refused
    try:
        _run_job(store, JobContext(store, job, lost))
    except LeaseLost as e:
        log.error("%s; %d write(s) of this worker refused for job %s, which it stops now", e,
                  store.database.refused - refused, job["id"])
    finally:
        store.database.fence = None


def _run_job(store: Store, ctx: JobContext) -> None:
    from ..accounts import User
    from ..service import Studio

    job = ctx.job
    studio = Studio(store, User.system("worker"))  # the job was authorised when it was queued
    try:
        message = JOB_KINDS[job["kind"]](studio, ctx)
    except JobPaused as e:
        store.jobs.update(job["id"], status=JobStatus.PAUSED, message=str(e), finished_at=time.time())
        return
    except EladError as e:  # a problem the user can fix: the message says what
        log.error("job %s failed in phase %s: %s", job["id"], ctx.phase or "-", e)  # in the worker's log even
        #                                                                    when the store cannot take it
        ctx.log(f"error: {e}")
        store.jobs.update(job["id"], status=JobStatus.FAILED, error=str(e), finished_at=time.time())
        return
    except Exception as e:  # a bug: keep the traceback in the job log, not on the page
        ctx.log(traceback.format_exc())
        store.jobs.update(job["id"], status=JobStatus.FAILED, error=f"{type(e).__name__}: {e}", finished_at=time.time())
        return
    if ctx.lost.is_set():  # the heartbeat could not renew the lease: stopped at a safe point, back to the queue
        ctx.log("the worker's heartbeat could not renew the job's lease; it stopped at a safe point and is queued "
                "again")
        store.jobs.update(job["id"], status=JobStatus.QUEUED, worker_pid=None, message="queued again: the "
                          "worker lost its lease")
        return
    status = JobStatus.DONE
    current = store.jobs.get(job["id"])
    if current["status"] == JobStatus.STOPPING:
        status = ctx.stop_as()
    store.jobs.update(job["id"], status=status, message=message, finished_at=time.time())


def run_worker(workspace: str | Path, once: bool = False, poll_s: float = 0.5, idle_exit_s: float | None = None,
               stale_s: float = STALE_S) -> int:
    """Run jobs until stopped (or, with once=True, until the queue is empty). Returns the jobs run."""
    store = Store(workspace)
    worker_pid = os.getpid()
    heartbeat = Heartbeat(workspace, worker_pid, lease_s=stale_s)
    store.workers.beat(worker_pid)
    store.jobs.requeue_stale(stale_s)
    heartbeat.start()
    ran, idle_since = 0, time.time()
    try:
        while True:
            job = store.jobs.claim(worker_pid, lease_s=stale_s)
            if job is None:
                if once or (idle_exit_s is not None and time.time() - idle_since > idle_exit_s):
                    return ran
                time.sleep(poll_s)
                store.jobs.requeue_stale(stale_s)
                continue
            heartbeat.hold(job["id"], job["lease"])
            try:
                run_job(store, job, heartbeat.lost)
            finally:
                heartbeat.release()
            ran += 1
            idle_since = time.time()
    finally:
        heartbeat.close()
        store.workers.forget(worker_pid)
