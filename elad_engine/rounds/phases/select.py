"""Select: the top-b unlabeled questions by the strategy's score (round 0: w at random for the warm-up). A
selection, once saved, is never drawn again: a crash after it must not select (and pay for) a second batch."""

from __future__ import annotations

from ...method.selection import get_strategy
from ..context import RoundContext
from .result import PhaseResult


def run(ctx: RoundContext, rnd: int) -> PhaseResult:
    store, project_id, cfg = ctx.store, ctx.project_id, ctx.cfg
    existing = store.selections.list(project_id, rnd)
    if existing:
        return PhaseResult.done(f"{len(existing)} selected (kept from an interrupted run)")
    pool = ctx.unlabeled_pool()
    if rnd == 0:
        strategy, budget = get_strategy("random"), cfg.rounds.warmup
        candidates = {i: {} for i in pool}
    else:
        strategy, budget = get_strategy(cfg.selection.strategy), cfg.selection.round_budget
        if strategy.needs:
            scored = {r["example_id"]: r["components"] for r in store.scores.list(project_id, rnd)}
            candidates = {i: scored[i] for i in pool if i in scored}
        else:
            candidates = {i: {} for i in pool}
    ranked = strategy.select(candidates, len(candidates), seed=cfg.rounds.seed * 7919 + rnd)
    if strategy.name == "random":  # keep the draws, so the UI can show why a sample was picked
        store.scores.save(project_id, rnd, "random", {i: (s, {"random": s}) for i, s in ranked})
    store.selections.save(project_id, rnd, strategy.name, ranked[:budget])
    return PhaseResult.done(f"{min(budget, len(ranked))} of {len(ranked)} selected by {strategy.name}")
