"""The ELAD round loop: which round comes next, which of its phases still have to run, and when to stop.
`RoundRunner(store, project_id).run()` runs rounds until R are done, the teacher budget would be exceeded, the pool
is empty, or a human review is pending.

Round 0 is the warm-up (w random pool samples, full annotation) or, without warm-up, the evaluation of the starting
student. Rounds 1..R: explain -> score -> select -> revise -> review -> train -> evaluate (phases/). Every phase
records how it ended; rerunning skips finished phases, and the long phases (explain, revise) resume at the next
unfinished chunk or sample.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import BudgetExceeded, EladError, TeacherUnavailable
from ..method.cost import Budget, count_message_tokens
from ..states import ROUND_PHASES, UNDECIDED, WARMUP_PHASES, Phase, PhaseStatus, SelectionStatus, StopReason
from ..store import Store
from ..teachers.prompts import revision_messages
from .context import Cancelled, Progress, RoundContext
from .fit_check import enforce, project_fit
from .phases import PHASES


@dataclass
class RunOutcome:
    rounds_done: int  # rounds finished in the store (round 0 included)
    stop_reason: StopReason
    message: str
    error: str = ""  # what went wrong, when the loop stopped because it could not go on (the teacher unusable)


def peak_memory_gb() -> float:
    """The process's peak resident memory so far (its high-water mark: the phase that raised it is the one after
    which it grew), in GB; 0 where the platform does not report it."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1024 ** 3 if sys.platform == "darwin" else 1024 ** 2)


class RoundRunner:
    def __init__(self, store: Store, project_id: int, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None,
                 launch: bool = True):
        self.context = RoundContext(store, project_id, progress, cancel, log, launch)
        self.store, self.project_id, self.cfg = store, project_id, self.context.cfg

    def phases_of(self, rnd: int) -> tuple[Phase, ...]:
        if rnd == 0:
            return WARMUP_PHASES if self.cfg.rounds.warmup > 0 else (Phase.EVALUATE,)
        return ROUND_PHASES

    def next_round(self) -> int:
        done = self.store.rounds.done(self.project_id)
        return max(done) + 1 if done else 0

    def run(self, max_rounds: int | None = None) -> RunOutcome:
        """Run (or resume) rounds until a stop condition; `max_rounds` caps the rounds run by this call."""
        if self.context.procs.world > 1:
            raise EladError("the round loop calls the teacher and must run in one process, not under `accelerate "
                            "launch`: run it plainly; with compute.processes > 1 it launches `score` and `train` "
                            "on that many processes itself")
        enforce(project_fit(self.store, self.project_id, self.cfg), self.cfg, self.context.log)  # before any work
        ran = 0
        while True:
            rnd = self.next_round()
            if not self.store.rounds.started(self.project_id, rnd):  # a round under way always finishes; stop
                stopped = self.stop_condition(rnd)  # conditions apply before a new one
                if stopped:
                    return RunOutcome(rnd, *stopped)
                if max_rounds is not None and ran >= max_rounds:
                    return RunOutcome(rnd, StopReason.MAX_ROUNDS, f"ran {ran} round{'s' * (ran != 1)}; start again "
                                      "for the next")
            try:
                finished = self.run_round(rnd)
            except Cancelled:
                return RunOutcome(rnd, StopReason.CANCELLED, f"stopped in round {rnd} at a safe point; what "
                                  "was done is kept")
            except TeacherUnavailable as e:  # an outage, a wrong address or model: no sample is failed for it
                self.context.log(f"round {rnd}: the teacher cannot be used: {e}")
                return RunOutcome(rnd, StopReason.TEACHER_UNAVAILABLE, f"round {rnd} paused: {e}. Resume once "
                                  "the endpoint answers; the samples with no reply yet are asked again", str(e))
            if not finished:
                waiting = self.store.revisions.count(self.project_id, rnd, UNDECIDED)
                return RunOutcome(rnd, StopReason.REVIEW_PENDING,
                                  f"round {rnd} waits for review: {waiting} revision(s) pending")
            ran += 1
            over = self.over_budget(rnd)
            if over:
                return RunOutcome(rnd + 1, StopReason.BUDGET, f"the teacher budget ran out in round {rnd}: {over} "
                                  "selected sample(s) went back to the pool unrevised; raise rounds.budget_tokens or "
                                  "rounds.budget_dollars to continue")

    def over_budget(self, rnd: int) -> int:
        return self.store.selections.count(self.project_id, rnd, SelectionStatus.OVER_BUDGET)

    def stop_condition(self, rnd: int) -> tuple[StopReason, str] | None:
        if rnd > self.cfg.rounds.rounds:
            n = self.cfg.rounds.rounds
            return StopReason.COMPLETED, f"the warm-up and {n} round{'s' * (n != 1)} are done"
        pool = self.context.unlabeled_pool()
        if rnd >= 1 and not pool:
            return StopReason.POOL_EMPTY, "the unlabeled pool is empty: every pool sample has been sent to the teacher"
        budget = Budget(self.cfg.rounds.budget_tokens, self.cfg.rounds.budget_dollars)
        spend = self.store.teacher_calls.spend(self.project_id)
        # The next prompt is unknown until the student has explained the pool: estimate it from below with the
        # largest prompt so far or an empty revision of the longest question, so a round that could not afford
        # a single call never starts (and never wastes its explain phase).
        longest = max(self.store.examples.list(self.project_id, ids=pool), key=lambda e: len(e.question), default=None)
        estimate = max(spend["max_prompt_tokens"], count_message_tokens(revision_messages(longest, [], None, False,
                                                                                self.cfg.task.answer_type))
                       if longest else 0)
        try:
            budget.check(spend, estimate, self.cfg.teacher.max_tokens, self.cfg.teacher.price())
        except BudgetExceeded as e:
            return StopReason.BUDGET, f"{e} Raise the budget to continue."
        return None

    def run_round(self, rnd: int) -> bool:
        """Run the unfinished phases of round `rnd`; False when it stopped to wait for review."""
        store, project_id = self.store, self.project_id
        store.rounds.start(project_id, rnd)
        for phase in self.phases_of(rnd):
            if store.phases.status(project_id, rnd, phase) == PhaseStatus.DONE:
                continue
            self.context.check_cancel()
            t0 = time.perf_counter()
            self.context.log(f"round {rnd}: {phase}")
            self.context.progress(phase, 0, 0)  # the job names the phase from its start, not its first batch
            result = PHASES[phase](self.context, rnd)
            if result.status == PhaseStatus.WAITING:
                store.phases.set(project_id, rnd, phase, PhaseStatus.WAITING, time.perf_counter() - t0)
                return False
            store.phases.set(project_id, rnd, phase, result.status, time.perf_counter() - t0, result.detail,
                             result.tokens)
            self.context.log(f"round {rnd}: {phase} done in {time.perf_counter() - t0:.1f} s; "
                             f"peak memory of this process so far {peak_memory_gb():.2f} GB")
        # The metrics row was written inside the evaluate phase: complete its timings with that phase too.
        store.metrics.set_phase_seconds(project_id, rnd, {p["phase"]: round(p["seconds"] or 0.0, 2)
                                                          for p in store.phases.list(project_id, rnd)})
        store.rounds.finish(project_id, rnd, StopReason.BUDGET if self.over_budget(rnd) else None)
        return True
