"""The rounds area of the service: the next round's cost estimate, starting, pausing, cancelling and resuming rounds
as worker jobs, the live job with its ETA and log, the phases of every round, and running rounds in this process
(the CLI and the worker do; a page never does)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..accounts import Permission
from ..errors import EladError
from ..jobs.queue import active_job, enqueue_rounds, request_stop
from ..review.decisions import close_review
from ..states import ACTIVE_JOB, JobKind, JobStatus
from ..store.jobs import JobRow, LogLine
from .access import Area, action


class RoundsArea(Area):
    @action(Permission.READ)
    def estimate_next(self, project_id: int) -> dict:
        """The next round's teacher calls and their typical and worst-case cost."""
        from ..rounds.estimate import estimate_next_round
        return estimate_next_round(self.store, project_id)

    @action(Permission.READ)
    def job(self, project_id: int, kind: JobKind = JobKind.ROUNDS) -> JobRow | None:
        """The project's active job of this kind, else its latest one."""
        return active_job(self.store, project_id, kind)

    @action(Permission.READ)
    def eta_seconds(self, job: JobRow) -> float | None:
        """Seconds the job's current phase should still take, from its pace since the phase began."""
        start = job["phase_start_done"] or 0
        done, total = job["progress"] or 0, job["total"] or 0
        if job["status"] != JobStatus.RUNNING or not job["phase_started"] or done <= start:  # none while stopping
            return None
        rate = (done - start) / max(1e-6, time.time() - job["phase_started"])
        return max(0, total - done) / rate

    @action(Permission.READ)
    def job_log(self, job_id: int, last: int = 200) -> list[LogLine]:
        return self.store.jobs.log_lines(job_id, last)

    @action(Permission.READ)
    def table(self, project_id: int) -> tuple[list[dict], list[str]]:
        """One row per round (its status and each phase's status and seconds), and what the phases of the latest
        round did ("phase: detail")."""
        rows, details = [], []
        for r in self.store.rounds.list(project_id):
            row = {"round": r["round"], "status": r["status"] + (f" ({r['stop_reason']})" if r["stop_reason"] else "")}
            phases = self.store.phases.list(project_id, r["round"])
            for p in phases:
                speed = (f" · {p['tokens'] / p['seconds']:,.0f} tok/s" if p.get("tokens") and p["seconds"] else "")
                row[p["phase"]] = p["status"] + (f" · {p['seconds']:.1f}s" if p["seconds"] else "") + speed
            rows.append(row)
            details = [f"{p['phase']}: {p['detail']}" for p in phases if p.get("detail")]
        return rows, details

    @action(Permission.RUN)
    def start(self, project_id: int, max_rounds: int | None = None) -> int:
        """Queue rounds for the worker (`max_rounds`: at most this many; None: all remaining); an active rounds job
        of the project is returned instead of a second one. A project that cannot learn as configured is refused
        here, before anything is queued (MisfitError names each misfit and its way out)."""
        from ..rounds.fit_check import enforce, project_fit
        cfg = self.store.projects.config(project_id)
        enforce(project_fit(self.store, project_id, cfg), cfg)
        return enqueue_rounds(self.store, project_id, max_rounds)

    @action(Permission.READ)
    def fit(self, project_id: int) -> list[dict]:
        """The fit check's findings for the project as configured: {"check", "message", "refuses", "overridden"}."""
        from ..rounds.fit_check import finding_rows, project_fit
        cfg = self.store.projects.config(project_id)
        return finding_rows(project_fit(self.store, project_id, cfg), cfg)

    @action(Permission.RUN)
    def stop(self, job_id: int, as_status: str = JobStatus.PAUSED) -> None:
        """Pause or cancel a rounds job at its next safe point."""
        self._own_kind(job_id, JobKind.ROUNDS)
        request_stop(self.store, job_id, as_status)

    @action(Permission.RUN)
    def close_review(self, project_id: int, rnd: int) -> int:
        """Train on what is approved so far: close the round's review and queue the rest of the round."""
        close_review(self.store, project_id, rnd)
        return enqueue_rounds(self.store, project_id)

    @action(Permission.RUN)
    def run(self, project_id: int, max_rounds: int | None = None, progress: Callable | None = None,
            cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None):
        """Run (or resume) rounds in this process until a stop condition; returns the RunOutcome."""
        from ..rounds.loop import RoundRunner
        return RoundRunner(self.store, project_id, progress=progress, cancel=cancel, log=log).run(max_rounds)

    @action(Permission.RUN)
    def run_as_rank(self, project_id: int, rnd: int, command: str, progress: Callable | None = None) -> str:
        """One launched rank's share of `score` (explain + score the pool) or `train` for round `rnd`."""
        from ..rounds.launched import run_launched_command
        return run_launched_command(self.store, project_id, rnd, command, progress)

    @action(Permission.READ)
    def status(self, project_id: int) -> dict:
        """Rounds with their phases, and the teacher spend: what `elad status` prints."""
        rounds = [dict(r, phases=self.store.phases.list(project_id, r["round"]))
                  for r in self.store.rounds.list(project_id)]
        return {"rounds": rounds, "spend": self.store.teacher_calls.spend(project_id)}

    def _own_kind(self, job_id: int, kind: JobKind) -> None:
        job = self.store.jobs.get(job_id)
        if job["kind"] != kind and job["status"] in ACTIVE_JOB:
            raise EladError(f"job {job_id} is a {job['kind']} job, not a {kind} job")
