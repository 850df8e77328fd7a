"""The background worker: claims queued jobs from the workspace's store, runs them, beats a heartbeat and
stops at the next safe point when asked. Run: `python -m elad_engine worker [--workspace DIR]`; the web app
starts one itself (`ensure_worker`) when none is alive. A killed worker's job is resumed by the next one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

from .accounts import require
from .errors import EladError, StoreError
from .store import Store

HEARTBEAT_S = 2.0  # how often a worker says it is alive
STALE_S = 15.0  # a worker (or a running job) silent this long is presumed dead
STOP_STATUSES = ("paused", "cancelled")
IDLE_EXIT_S = 300.0  # a worker the app started leaves after this long without work; the app starts another


def request_stop(store: Store, job_id: int, as_status: str = "paused", actor: dict | None = None) -> None:
    """Ask a queued or running job to stop: a queued one stops at once, a running one at its next safe point."""
    require(actor, "run")
    if as_status not in STOP_STATUSES:
        raise EladError(f"a job can be stopped as one of {STOP_STATUSES}, not {as_status!r}")
    job = store.job(job_id)
    if job["status"] == "queued":
        store.update_job(job_id, status=as_status, finished_at=time.time())
    elif job["status"] == "running":
        store.update_job(job_id, status="stopping", message=as_status)


def enqueue_rounds(store: Store, pid: int, max_rounds: int | None = None, actor: dict | None = None) -> int:
    """Queue a rounds job for the project (one at a time: an active one is returned instead)."""
    require(actor, "run")
    for job in store.jobs(pid):
        if job["kind"] == "rounds" and job["status"] in ("queued", "running", "stopping"):
            return job["id"]
    return store.enqueue_job(pid, "rounds", {"max_rounds": max_rounds})


class JobContext:
    """What a running job reports through: throttled progress, the log, and the stop check."""

    def __init__(self, store: Store, job: dict):
        self.store, self.job = store, job
        self._last = 0.0
        self._phase = None

    def progress(self, phase: str, done: int, total: int) -> None:
        now = time.time()
        if phase != self._phase:  # a new phase: its own clock, so the ETA is that phase's
            self._phase = phase
            self.store.update_job(self.job["id"], phase=phase, phase_started=now, phase_start_done=done,
                                  progress=done, total=total)
            self._last = now
        elif now - self._last > 0.5 or done == total:
            self.store.update_job(self.job["id"], progress=done, total=total)
            self._last = now

    def log(self, line: str) -> None:
        self.store.log_job(self.job["id"], line)

    def stop_requested(self) -> bool:
        return self.store.job(self.job["id"])["status"] == "stopping"


def enqueue_export(store: Store, pid: int, rnd: int, merged: bool, actor: dict | None = None) -> int:
    require(actor, "export")
    return store.enqueue_job(pid, "export", {"round": rnd, "merged": merged})


def run_rounds_job(ctx: JobContext) -> str:
    from .rounds import RoundRunner

    args = ctx.job["args"] or {}
    runner = RoundRunner(ctx.store, ctx.job["project_id"], progress=ctx.progress, cancel=ctx.stop_requested,
                         log=ctx.log)
    outcome = runner.run(max_rounds=args.get("max_rounds"))
    ctx.log(f"stopped: {outcome.stop_reason}: {outcome.message}")
    return f"{outcome.stop_reason}: {outcome.message}"


def run_export_job(ctx: JobContext) -> str:
    from .export import export_round

    args = ctx.job["args"] or {}
    ctx.progress("export", 0, 1)
    paths = export_round(ctx.store, ctx.job["project_id"], args.get("round"), args.get("out"),
                         merged=args.get("merged", True))
    ctx.progress("export", 1, 1)
    for k, v in paths.items():
        ctx.log(f"{k}: {v}")
    return f"exported round {args.get('round', 'best')} to {Path(paths['folder']).name}"


JOB_KINDS: dict[str, Callable[[JobContext], str]] = {"rounds": run_rounds_job, "export": run_export_job}


def run_job(store: Store, job: dict) -> None:
    ctx = JobContext(store, job)
    try:
        message = JOB_KINDS[job["kind"]](ctx)
    except EladError as e:  # a problem the user can fix: the message says what
        ctx.log(f"error: {e}")
        store.update_job(job["id"], status="failed", error=str(e), finished_at=time.time())
        return
    except Exception as e:  # a bug: keep the traceback in the job log, not on the page
        ctx.log(traceback.format_exc())
        store.update_job(job["id"], status="failed", error=f"{type(e).__name__}: {e}", finished_at=time.time())
        return
    status = "done"
    current = store.job(job["id"])
    if current["status"] == "stopping":
        status = current["message"] if current["message"] in STOP_STATUSES else "paused"
    store.update_job(job["id"], status=status, message=message, finished_at=time.time())


def run_worker(workspace: str | Path, once: bool = False, poll_s: float = 0.5, idle_exit_s: float | None = None,
               stale_s: float = STALE_S) -> int:
    """Run jobs until stopped (or, with once=True, until the queue is empty). Returns the jobs run."""
    store = Store(workspace)
    pid = os.getpid()
    stop = threading.Event()

    def beat() -> None:  # its own thread and connection: a long training step must not look like a death
        beat_store = Store(workspace)
        while not stop.wait(HEARTBEAT_S):
            try:
                beat_store.beat_worker(pid)
            except StoreError:
                pass
        beat_store.close()

    store.beat_worker(pid)
    store.requeue_stale_jobs(stale_s)
    threading.Thread(target=beat, daemon=True).start()
    ran, idle_since = 0, time.time()
    try:
        while True:
            job = store.claim_job()
            if job is None:
                if once or (idle_exit_s is not None and time.time() - idle_since > idle_exit_s):
                    return ran
                time.sleep(poll_s)
                store.requeue_stale_jobs(stale_s)
                continue
            run_job(store, job)
            ran += 1
            idle_since = time.time()
    finally:
        stop.set()
        store.forget_worker(pid)


def ensure_worker(workspace: str | Path) -> int | None:
    """Start a detached worker process for the workspace unless one is alive; returns the new pid or None."""
    store = Store(workspace)
    try:
        if store.live_workers(STALE_S):
            return None
    finally:
        store.close()
    log = Path(workspace) / "worker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "elad_engine", "worker", "--workspace", str(workspace),
                                 "--idle-exit", str(IDLE_EXIT_S)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=Path(__file__).resolve().parents[1])
    return proc.pid
