"""Baseline (round 0 with a warm-up): the starting student's test accuracy, before any training."""

from __future__ import annotations

from ..context import RoundContext
from .evaluate import evaluate_student
from .result import PhaseResult


def run(ctx: RoundContext, rnd: int) -> PhaseResult:
    result = evaluate_student(ctx, ctx.student_for(rnd), phase="baseline")
    ctx.store.metrics.save(ctx.project_id, rnd, base_accuracy=result["accuracy"], test_size=result["n"],
                           base_format_ok=result["format_ok"])
    return PhaseResult.done(f"starting accuracy {result['accuracy']:.3f} on {result['n']} test samples; format "
                            f"followed by {result['format_ok']:.0%}", result["tokens"])
