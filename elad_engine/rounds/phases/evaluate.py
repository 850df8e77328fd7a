"""Evaluate: the trained student's accuracy on the held-out test split, and the round's metrics row (accuracy
against the teacher cost so far, review counts)."""

from __future__ import annotations

from ...method.cost import dollars
from ...states import RevisionStatus
from ...student.evaluation import evaluate
from ..context import RoundContext
from .result import PhaseResult


def evaluate_student(ctx: RoundContext, student, phase: str = "evaluate") -> dict:
    """The student's accuracy and format compliance on the test split (at most evaluation.max_examples), in the
    project's prompt style, with progress under `phase`; 'tokens' is what it generated."""
    tests = ctx.store.examples.list(ctx.project_id, split="test")
    if ctx.cfg.evaluation.max_examples:
        tests = tests[:ctx.cfg.evaluation.max_examples]
    done = [0]

    def tick(n: int) -> None:
        ctx.check_cancel()  # a pause or cancel waits for one batch, not the whole test split
        done[0] += n
        ctx.progress(phase, done[0], len(tests))

    generated = student.generated_tokens
    result = evaluate(student, tests, ctx.task, ctx.cfg.student.max_new_tokens,
                      ctx.cfg.student.batch_size, on_batch=tick, style=ctx.style(student.tokenizer))
    return result | {"tokens": student.generated_tokens - generated}


def run(ctx: RoundContext, rnd: int) -> PhaseResult:
    store, project_id = ctx.store, ctx.project_id
    result = evaluate_student(ctx, ctx.student_for(rnd, after_training=True))
    spend = store.teacher_calls.spend(project_id, up_to_round=rnd)
    counts = store.revisions.status_counts(project_id, rnd)
    previous = store.metrics.of_round(project_id, rnd) or {}
    base = previous.get("base_accuracy", result["accuracy"] if rnd == 0 else None)
    # The method's cost, cached replies included, so projects sharing a workspace (and its request cache) compare
    # fairly; the budget counts what was paid. Phase timings are added by the loop when the round ends.
    cached_usd = dollars(spend["used_prompt_tokens"] - spend["prompt_tokens"],
                         spend["used_completion_tokens"] - spend["completion_tokens"], ctx.cfg.teacher.price())
    store.metrics.save(project_id, rnd, accuracy=result["accuracy"], base_accuracy=base,
                       by_difficulty=result["by_difficulty"], test_size=result["n"], format_ok=result["format_ok"],
                       correct=result["correct"],
                       prompt_tokens=spend["used_prompt_tokens"], completion_tokens=spend["used_completion_tokens"],
                       cost_usd=spend["cost_usd"] + cached_usd, **{
                           status.value: counts.get(status, 0) for status in (
                               RevisionStatus.APPROVED, RevisionStatus.EDITED, RevisionStatus.REJECTED,
                               RevisionStatus.TEACHER_FAILED)})
    return PhaseResult.done(f"accuracy {result['accuracy']:.3f} on {result['n']} test samples; format followed by "
                            f"{result['format_ok']:.0%}", result["tokens"])
