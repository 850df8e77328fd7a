"""Score: every explained question's uncertainty scores (DESIGN §1), kept with their components so the review
page can say why a sample was picked."""

from __future__ import annotations

from ...method.selection import get_strategy
from ...method.uncertainty import question_scores
from ..context import RoundContext
from .result import PhaseResult


def run(ctx: RoundContext, rnd: int) -> PhaseResult:
    strategy = get_strategy(ctx.cfg.selection.strategy)
    if not strategy.needs:
        return PhaseResult.done("skipped: the strategy needs no scores")
    by_id: dict[str, list] = {}
    for x in ctx.store.explanations.list(ctx.project_id, rnd):
        by_id.setdefault(x.example_id, []).append(x)
    rows = {}
    for i, xs in by_id.items():
        comps = question_scores(xs, ctx.cfg.uncertainty.alpha, ctx.cfg.uncertainty.intra)
        rows[i] = (comps.get(strategy.key, 0.0), comps)
    ctx.store.scores.save(ctx.project_id, rnd, strategy.name, rows)
    return PhaseResult.done(f"{len(rows)} questions scored")
