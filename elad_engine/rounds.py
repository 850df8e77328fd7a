"""The ELAD round loop as resumable phases. `RoundRunner(store, project_id).run()` runs rounds until R
are done, the teacher budget would be exceeded, the pool is empty, or a human review is pending.

Round 0 is the warm-up (w random pool samples, full annotation) or, without warm-up, the evaluation of
the starting student. Rounds 1..R: explain -> score -> select -> revise -> review -> train -> evaluate.
Every phase records `done` in the store when it finishes; rerunning skips finished phases, and the
long phases (explain, revise) resume at the next unfinished chunk or sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .cost import Budget, count_message_tokens, dollars
from .distributed import LaunchCancelled, Processes, launch_command, run_launched, shown
from .errors import BudgetExceeded, EladError
from .evaluation import evaluate
from .explain import explain_examples
from .reasoning import answers_match, build_prompt, short_answer, split_steps
from .selection import get_strategy
from .store import Store
from .student import Student
from .teachers import assembled_text, build_request, make_teacher
from .teachers.dispatch import Ledger, run_requests
from .teachers.prompts import PROMPT_VERSION, revision_messages
from .training import train_student
from .uncertainty import question_scores

PHASES = ("explain", "score", "select", "revise", "review", "train", "evaluate")
WARMUP_PHASES = ("baseline", "select", "revise", "review", "train", "evaluate")

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class RunOutcome:
    rounds_done: int  # rounds finished in the store (round 0 included)
    stop_reason: str  # completed | budget | pool_empty | review_pending | cancelled | max_rounds
    message: str


class Cancelled(Exception):
    """Raised at a safe point when the caller's cancel check says stop."""


class RoundRunner:
    def __init__(self, store: Store, project_id: int, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None,
                 launch: bool = True):
        """launch=False: do scoring and training in this process (group) even when compute.processes > 1; the
        `score` and `train` commands use it, since they are what the launch runs."""
        self.store, self.pid = store, project_id
        self.cfg = store.config(project_id)
        self.procs = Processes(cpu=self.cfg.student.device == "cpu")
        self.cfg = self.procs.share(self.cfg)
        self.may_launch = launch and self.procs.world == 1
        self.progress = progress or (lambda phase, done, total: None)
        self.cancel = cancel or (lambda: False)
        self.log = log or (lambda msg: None)
        self._teacher = None
        self._student: tuple[tuple, Student] | None = None

    # --- helpers -----------------------------------------------------------------------------------

    @property
    def teacher(self):
        if self._teacher is None:  # built when first needed: a round with no teacher calls needs no API key
            self._teacher = make_teacher(self.cfg.teacher)
        return self._teacher

    def phases_of(self, rnd: int) -> tuple[str, ...]:
        if rnd == 0:
            return WARMUP_PHASES if self.cfg.rounds.warmup > 0 else ("evaluate",)
        return PHASES

    def round_dir(self, rnd: int) -> Path:
        return self.store.artifacts / self.store.project_name(self.pid) / f"round-{rnd}"

    def student_for(self, rnd: int, after_training: bool = False) -> Student:
        """The student as it stands at the start of round `rnd` (or after its training)."""
        latest = self.store.latest_checkpoint(self.pid, rnd + 1 if after_training else rnd)
        s = self.cfg.student
        if latest is None:
            key = (s.path, s.adapter or None)
        elif latest[1] == "full":  # the checkpoint's own method says how to load it, whatever the config says now
            key = (latest[0], None)
        else:
            key = (s.path, latest[0])
        if self._student is None or self._student[0] != key:
            self._student = (key, Student.load(key[0], adapter=key[1], device=self.device, dtype=s.dtype))
        return self._student[1]

    @property
    def device(self) -> str:
        return self.procs.device or self.cfg.student.device  # a launched rank uses the device accelerate gave it

    def launches(self) -> bool:
        return self.may_launch and self.cfg.compute.processes > 1

    def launched(self, command: str, rnd: int) -> None:
        """Run `python -m elad_engine COMMAND` for this round under `accelerate launch`, and wait for it."""
        cmd = launch_command(self.cfg.compute, [command, "--workspace", str(self.store.workspace),
                                                "--project", self.store.project_name(self.pid), "--round", str(rnd)])
        self.release_student()  # rank 0 shares this process's GPU: leave it the memory
        self.log(f"round {rnd}: {command} on {self.cfg.compute.processes} processes: {shown(cmd)}")
        try:
            run_launched(cmd, self.progress, self.cancel, f"{command} on {self.cfg.compute.processes} processes")
        except LaunchCancelled:
            raise Cancelled() from None

    def release_student(self) -> None:
        self._student = None
        import gc

        import torch
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def check_cancel(self) -> None:
        if self.cancel():
            raise Cancelled()

    def unlabeled_pool(self) -> list[str]:
        labelled = self.store.labelled_ids(self.pid)
        ids = [e.id for e in self.store.examples(self.pid, split="pool")]
        if self.cfg.rounds.pool_limit:
            ids = ids[:self.cfg.rounds.pool_limit]
        return [i for i in ids if i not in labelled]

    # --- the loop ----------------------------------------------------------------------------------

    def next_round(self) -> int:
        done = [r["round"] for r in self.store.rounds(self.pid) if r["status"] == "done"]
        return max(done) + 1 if done else 0

    def run(self, max_rounds: int | None = None) -> RunOutcome:
        """Run (or resume) rounds until a stop condition; `max_rounds` caps the rounds run by this call."""
        if self.procs.world > 1:
            raise EladError("the round loop calls the teacher and must run in one process, not under `accelerate "
                            "launch`: run it plainly; with compute.processes > 1 it launches `score` and `train` "
                            "on that many processes itself")
        if not self.store.count_examples(self.pid).get("test"):
            raise EladError(f"project {self.store.project_name(self.pid)!r} has no test examples, so rounds cannot "
                            "be evaluated: import a test split (e.g. `import FILE --split test`, or a test fraction).")
        ran = 0
        while True:
            rnd = self.next_round()
            started = any(r["round"] == rnd for r in self.store.rounds(self.pid))
            if not started:  # a round under way always finishes; stop conditions apply before a new one
                stopped = self.stop_condition(rnd)
                if stopped:
                    return RunOutcome(rnd, *stopped)
                if max_rounds is not None and ran >= max_rounds:
                    return RunOutcome(rnd, "max_rounds", f"ran {ran} round(s) as asked")
            try:
                finished = self.run_round(rnd)
            except Cancelled:
                return RunOutcome(rnd, "cancelled", f"cancelled during round {rnd}; rerun to resume")
            if not finished:
                waiting = len(self.store.revisions(self.pid, rnd, status=("pending", "teacher_failed", "conflict")))
                return RunOutcome(rnd, "review_pending",
                                  f"round {rnd} waits for review: {waiting} revision(s) pending")
            ran += 1
            over = self.over_budget(rnd)
            if over:
                return RunOutcome(rnd + 1, "budget", f"the teacher budget ran out in round {rnd}: {over} selected "
                                  "sample(s) went back to the pool unrevised; raise rounds.budget_tokens or "
                                  "rounds.budget_dollars to continue")

    def over_budget(self, rnd: int) -> int:
        return sum(s["status"] == "over_budget" for s in self.store.selection(self.pid, rnd))

    def stop_condition(self, rnd: int) -> tuple[str, str] | None:
        if rnd > self.cfg.rounds.rounds:
            return "completed", f"all {self.cfg.rounds.rounds} rounds are done"
        pool = self.unlabeled_pool()
        if rnd >= 1 and not pool:
            return "pool_empty", "the unlabeled pool is empty: every pool sample has been sent to the teacher"
        budget = Budget(self.cfg.rounds.budget_tokens, self.cfg.rounds.budget_dollars)
        spend = self.store.spend(self.pid)
        # The next prompt is unknown until the student has explained the pool: estimate it from below with the
        # largest prompt so far or an empty revision of the longest question, so a round that could not afford
        # a single call never starts (and never wastes its explain phase).
        longest = max(self.store.examples(self.pid, ids=pool), key=lambda e: len(e.question), default=None)
        estimate = max(spend["max_prompt_tokens"], count_message_tokens(revision_messages(longest, [], None))
                       if longest else 0)
        try:
            budget.check(spend, estimate, self.cfg.teacher.max_tokens, self.cfg.teacher.price())
        except BudgetExceeded as e:
            return "budget", f"{e} Raise the budget to continue."
        return None

    def run_round(self, rnd: int) -> bool:
        """Run the unfinished phases of round `rnd`; False when it stopped to wait for review."""
        self.store.start_round(self.pid, rnd)
        for phase in self.phases_of(rnd):
            if self.store.phase_status(self.pid, rnd, phase) == "done":
                continue
            self.check_cancel()
            t0 = time.perf_counter()
            self.log(f"round {rnd}: {phase}")
            detail = getattr(self, f"phase_{phase}")(rnd)
            if detail is False:
                self.store.set_phase(self.pid, rnd, phase, "waiting", time.perf_counter() - t0)
                return False
            self.store.set_phase(self.pid, rnd, phase, "done", time.perf_counter() - t0, detail)
        # The metrics row was written inside the evaluate phase: complete its timings with that phase too.
        self.store.set_phase_seconds(self.pid, rnd, {p["phase"]: round(p["seconds"] or 0.0, 2)
                                                     for p in self.store.phases(self.pid, rnd)})
        self.store.finish_round(self.pid, rnd, "done", "budget" if self.over_budget(rnd) else None)
        return True

    # --- phases ------------------------------------------------------------------------------------

    def phase_explain(self, rnd: int, ids: list[str] | None = None) -> str:
        """Greedy (+ sampled) explanations of the unlabeled pool, with probes and stats as the strategy needs.

        The pool is cut into chunks of compute.chunk_size; each chunk has its own sampling seed, so the results
        do not depend on how many processes share the work: in a launched group, rank r explains the r-th
        unfinished chunk of each wave and the main rank saves the whole wave (each chunk reaches the store once).
        """
        strategy = get_strategy(self.cfg.selection.strategy)
        if ids is None:
            if not strategy.needs:
                return "skipped: the strategy needs no explanations"
            ids = self.unlabeled_pool()
            if self.launches():
                self.launched("score", rnd)
                return f"{len(ids)} questions on {self.cfg.compute.processes} processes"
        procs = self.procs
        ids, done = procs.share((ids, self.store.explained_ids(self.pid, rnd)))  # one plan for every rank
        size = self.cfg.compute.chunk_size
        chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
        todo = [n for n, c in enumerate(chunks) if not set(c) <= done]
        student = self.student_for(rnd)
        finished = len(ids) - sum(len(chunks[n]) for n in todo)
        if procs.is_main:
            self.progress("explain", finished, len(ids))
        for start in range(0, len(todo), procs.world):
            self.check_cancel()
            wave = todo[start:start + procs.world]
            mine = wave[procs.rank] if procs.rank < len(wave) else None
            result = None if mine is None else explain_examples(
                student, self.store.examples(self.pid, ids=chunks[mine]), self.cfg, strategy.needs,
                seed=self.cfg.rounds.seed + 1000 * rnd + mine)
            for n, explained in procs.gather((mine, result)):
                if n is not None and procs.is_main:
                    self.store.save_explanations(self.pid, rnd, explained)
                    finished += len(chunks[n])
            if procs.is_main:
                self.progress("explain", finished, len(ids))
        return f"{len(ids)} questions" + (f" on {procs.world} processes" if procs.world > 1 else "")

    def phase_score(self, rnd: int) -> str:
        strategy = get_strategy(self.cfg.selection.strategy)
        if not strategy.needs:
            return "skipped: the strategy needs no scores"
        by_id: dict[str, list] = {}
        for x in self.store.explanations(self.pid, rnd):
            by_id.setdefault(x.example_id, []).append(x)
        rows = {}
        for i, xs in by_id.items():
            comps = question_scores(xs, self.cfg.uncertainty.alpha, self.cfg.uncertainty.intra)
            rows[i] = (comps.get(strategy.key, 0.0), comps)
        self.store.save_scores(self.pid, rnd, strategy.name, rows)
        return f"{len(rows)} questions scored"

    def phase_select(self, rnd: int) -> str:
        existing = self.store.selection(self.pid, rnd)
        if existing:  # a crash after saving the selection: never select (and pay for) a second batch
            return f"{len(existing)} selected (kept from an interrupted run)"
        if rnd == 0:
            strategy, budget = get_strategy("random"), self.cfg.rounds.warmup
            candidates = {i: {} for i in self.unlabeled_pool()}
        else:
            strategy, budget = get_strategy(self.cfg.selection.strategy), self.cfg.selection.round_budget
            pool = self.unlabeled_pool()
            if strategy.needs:
                scored = {r["example_id"]: r["components"] for r in self.store.scores(self.pid, rnd)}
                candidates = {i: scored[i] for i in pool if i in scored}
            else:
                candidates = {i: {} for i in pool}
        ranked = strategy.select(candidates, len(candidates), seed=self.cfg.rounds.seed * 7919 + rnd)
        if strategy.name == "random":  # keep the draws, so the UI can show why a sample was picked
            self.store.save_scores(self.pid, rnd, "random", {i: (s, {"random": s}) for i, s in ranked})
        self.store.save_selection(self.pid, rnd, strategy.name, ranked[:budget])
        return f"{min(budget, len(ranked))} of {len(ranked)} selected by {strategy.name}"

    def phase_revise(self, rnd: int) -> str:
        mode = "full" if rnd == 0 else self.cfg.teacher.annotation
        t = self.cfg.teacher
        selected = [r["example_id"] for r in self.store.selection(self.pid, rnd)]
        done = {r["example_id"] for r in self.store.revisions(self.pid, rnd)}
        todo = [i for i in selected if i not in done]
        if mode == "revision":
            missing = set(todo) - self.store.explained_ids(self.pid, rnd)
            if missing:  # strategies that need no pool explanations still revise the student's own steps
                self.phase_explain(rnd, [i for i in todo if i in missing])
        greedy = {x.example_id: x for x in self.store.explanations(self.pid, rnd, ids=todo) if x.kind == "greedy"}
        requests = []
        for example in self.store.examples(self.pid, ids=todo):
            student = greedy.get(example.id)
            requests.append(build_request(example, mode, student.steps if student else [],
                                          student.answer if student else None, t.show_gold))
        finished = [len(done)]
        self.progress("revise", finished[0], len(selected))

        def on_result(request, result) -> None:
            student = greedy.get(request.example.id)
            student_answer = short_answer(split_steps(student.text)[1] or "") if student else None
            text = assembled_text(request.steps, result, student_answer)
            if text is None and result.status != "teacher_failed":
                result.status, result.error = "teacher_failed", "no explanation could be assembled from the reply"
            self.store.save_revision(self.pid, rnd, request.example.id, mode, self.teacher.name, result, text,
                                     student.text if student else None, result.cost_usd, PROMPT_VERSION)
            finished[0] += 1
            self.progress("revise", finished[0], len(selected))

        ledger = Ledger(self.store, self.pid, rnd, Budget(self.cfg.rounds.budget_tokens, self.cfg.rounds.budget_dollars),
                        t.price(), self.teacher.model, self.check_cancel)
        try:
            run_requests(self.teacher, requests, ledger, t.max_tokens, on_result)
        except BudgetExceeded as e:
            saved = {r["example_id"] for r in self.store.revisions(self.pid, rnd)}
            rest = [i for i in todo if i not in saved]
            self.store.set_selection_status(self.pid, rnd, rest, "over_budget")
            self.log(f"{e} {len(rest)} selected sample(s) left unrevised.")
        return f"{len(self.store.revisions(self.pid, rnd))} of {len(selected)} revised ({mode})"

    def phase_review(self, rnd: int) -> str | bool:
        policy = self.cfg.review.policy
        pending = self.store.revisions(self.pid, rnd, status="pending")
        if policy == "human":
            waiting = pending or self.store.revisions(self.pid, rnd, status=("teacher_failed", "conflict"))
            if waiting and self.store.phase_status(self.pid, rnd, "review") != "closed":
                return False
            return "decided by reviewers"
        reviewer = f"policy:{policy}"
        for rev in pending:
            if policy == "auto-approve":
                self.store.add_review(rev["id"], "approve", reviewer)
                continue
            gold = self.store.examples(self.pid, ids=[rev["example_id"]])[0].answer
            answer = short_answer(split_steps(rev["text"] or "")[1] or "")  # the answer the student would learn
            if answers_match(answer, gold, self.cfg.task.answer_type):
                self.store.add_review(rev["id"], "approve", reviewer)
            else:
                self.store.add_review(rev["id"], "reject", reviewer,
                                      reason=f"revised answer {answer!r} differs from the gold answer {gold!r}")
        return f"{len(pending)} decided by {policy}"

    def phase_baseline(self, rnd: int) -> str:
        result = self._evaluate(self.student_for(rnd))
        self.store.save_metrics(self.pid, rnd, base_accuracy=result["accuracy"], test_size=result["n"])
        return f"starting accuracy {result['accuracy']:.3f} on {result['n']} test samples"

    def phase_train(self, rnd: int, again: bool = False) -> str:
        """Train on every approved sample so far. A training run this round already finished (a crash before the
        phase was marked done, or a manual `train`) is kept unless `again`."""
        procs = self.procs
        approved = bool(self.store.revisions(self.pid, rnd, status=("approved", "edited")))
        run = self.store.training_run(self.pid, rnd)
        kept = bool(run and not again and run["checkpoint"] and Path(run["checkpoint"]).exists())
        if self.launches() and approved and not kept:
            self.launched("train", rnd)
            run = self.store.training_run(self.pid, rnd)
            return (f"{run['samples']} samples, {run['steps']} steps, loss {run['final_loss']:.3f} on "
                    f"{self.cfg.compute.processes} processes")
        t = self.cfg.training
        samples = self.store.training_samples(self.pid, rnd) if approved and not kept else []
        latest = self.store.latest_checkpoint(self.pid, rnd) if t.continue_from_previous else None
        # one plan for every rank, as the main rank read it
        approved, kept, run, samples, latest = procs.share((approved, kept, run, samples, latest))
        if not approved:
            return "skipped: no newly approved samples this round, the student stays as it was"
        if kept:
            return f"{run['samples']} samples, {run['steps']} steps, loss {run['final_loss']:.3f} (kept)"
        base = self.cfg.student
        prev = latest[0] if latest and latest[1] == t.method else None
        # A fresh load: training mutates the weights, so the cached inference handle is never reused.
        self._student = None
        if t.method == "lora":
            student = Student.load(base.path, device=self.device, dtype=base.dtype)
            init = prev or base.adapter or None
        else:  # full fine-tuning keeps fp32 master weights; bf16 autocast still speeds it up on CUDA
            student = Student.load(prev or base.path, device=self.device, dtype="float32")
            init = None
        out = self.round_dir(rnd) / ("adapter" if t.method == "lora" else "model")
        result = train_student(student, [build_prompt(e.question) for e, _ in samples], [txt for _, txt in samples],
                               t, out, init_adapter=init, seed=self.cfg.rounds.seed + rnd, processes=procs,
                               on_step=lambda step, total, loss: procs.is_main and self.progress("train", step, total))
        if procs.is_main:  # the one writer: every rank has the same losses (reduced over ranks)
            self.store.save_training_run(self.pid, rnd, method=t.method, samples=len(samples), steps=result.steps,
                                         tokens=result.tokens, seconds=result.seconds, final_loss=result.final_loss,
                                         losses=result.losses, checkpoint=str(out))
        procs.barrier()
        return (f"{len(samples)} samples, {result.steps} steps, loss {result.final_loss:.3f}"
                + (f" on {procs.world} processes" if procs.world > 1 else ""))

    def _evaluate(self, student: Student) -> dict:
        tests = self.store.examples(self.pid, split="test")
        if self.cfg.evaluation.max_examples:
            tests = tests[:self.cfg.evaluation.max_examples]
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            self.progress("evaluate", done[0], len(tests))

        return evaluate(student, tests, self.cfg.task.answer_type, self.cfg.student.max_new_tokens,
                        self.cfg.student.batch_size, on_batch=tick)

    def phase_evaluate(self, rnd: int) -> str:
        result = self._evaluate(self.student_for(rnd, after_training=True))
        spend = self.store.spend(self.pid, up_to_round=rnd)
        counts = {}
        for r in self.store.revisions(self.pid, rnd):
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        previous = next((m for m in self.store.metrics(self.pid) if m["round"] == rnd), {})
        base = previous.get("base_accuracy", result["accuracy"] if rnd == 0 else None)
        self.store.save_metrics(self.pid, rnd, accuracy=result["accuracy"], base_accuracy=base,
                                by_difficulty=result["by_difficulty"], test_size=result["n"],
                                # the method's cost, cached replies included, so projects sharing a workspace
                                # (and its request cache) compare fairly; the budget counts what was paid
                                prompt_tokens=spend["used_prompt_tokens"],
                                completion_tokens=spend["used_completion_tokens"],
                                cost_usd=spend["cost_usd"] + dollars(spend["used_prompt_tokens"] - spend["prompt_tokens"],
                                                                     spend["used_completion_tokens"] -
                                                                     spend["completion_tokens"], self.cfg.teacher.price()), approved=counts.get("approved", 0),
                                edited=counts.get("edited", 0), rejected=counts.get("rejected", 0),
                                teacher_failed=counts.get("teacher_failed", 0))  # timings: run_round, at the end
        return f"accuracy {result['accuracy']:.3f} on {result['n']} test samples"


def close_review(store: Store, project_id: int, rnd: int, actor: dict | None = None) -> None:
    """Admin override: train on what is approved so far; pending revisions of the round stay pending."""
    from .accounts import require
    require(actor, "run")
    store.set_phase(project_id, rnd, "review", "closed")


def estimate_next_round(store: Store, project_id: int) -> dict:
    """What the next round's teacher calls should cost: typical (the mean call so far, or the prompt of an
    empty revision) and worst case (every completion at teacher.max_tokens)."""
    cfg = store.config(project_id)
    runner = RoundRunner(store, project_id)
    rnd = runner.next_round()
    n = min(cfg.rounds.warmup if rnd == 0 else cfg.selection.round_budget, len(runner.unlabeled_pool()))
    row = store.mean_call(project_id)
    if row[0] is None:
        pool = store.examples(project_id, ids=runner.unlabeled_pool()[:50])
        prompt = max((count_message_tokens(revision_messages(e, [], None)) for e in pool), default=0)
        completion = cfg.teacher.max_tokens // 4
    else:
        prompt, completion = int(row[0]), int(row[1])
    price = cfg.teacher.price()

    def usd(p: int, c: int) -> float:
        return (p * price[0] + c * price[1]) / 1_000_000
    return {"round": rnd, "calls": n, "prompt_tokens": n * prompt, "completion_tokens": n * completion,
            "usd": usd(n * prompt, n * completion), "worst_completion_tokens": n * cfg.teacher.max_tokens,
            "worst_usd": usd(n * prompt, n * cfg.teacher.max_tokens), "from_history": row[0] is not None}
