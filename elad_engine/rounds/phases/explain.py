"""Explain: greedy (+ sampled) explanations of the unlabeled pool, with probes and token statistics as the
selection strategy needs them, streamed to the store one chunk at a time (a killed run resumes at the next chunk).
"""

from __future__ import annotations

from ...method.accuracy import format_compliance
from ...method.selection import get_strategy
from ...states import ExplanationKind
from ...student.explain import explain_examples
from ..context import RoundContext
from .result import PhaseResult


def run(ctx: RoundContext, rnd: int) -> PhaseResult:
    strategy = get_strategy(ctx.cfg.selection.strategy)
    if not strategy.needs:
        return PhaseResult.done("skipped: the strategy needs no explanations")
    ids = ctx.unlabeled_pool()
    if ctx.launches():
        ctx.launched("score", rnd)
        return PhaseResult.done(f"{len(ids)} questions on {ctx.cfg.compute.processes} processes; "
                                f"{record_compliance(ctx, rnd)}")
    detail, tokens = explain_ids(ctx, rnd, ids, strategy.needs)
    if ctx.procs.is_main:
        detail += f"; {record_compliance(ctx, rnd)}"
    return PhaseResult.done(detail, tokens)


def record_compliance(ctx: RoundContext, rnd: int) -> str:
    """The share of the round's greedy explanations that follow the format, kept in the round's metrics row."""
    greedy = ctx.store.explanations.list(ctx.project_id, rnd, kind=ExplanationKind.GREEDY)
    choices = {e.id: e.choices for e in ctx.store.examples.list(ctx.project_id, ids=[x.example_id for x in greedy])}
    share = format_compliance([x.text for x in greedy], ctx.task, [choices.get(x.example_id) for x in greedy])
    ctx.store.metrics.save(ctx.project_id, rnd, pool_format_ok=share)
    return "format followed by " + ("-" if share is None else f"{share:.0%}")


def explain_ids(ctx: RoundContext, rnd: int, ids: list[str], needs: frozenset | None = None) -> tuple[str, int]:
    """Explain the questions `ids` not yet explained this round; returns a one-line summary and the tokens this
    process generated.

    The questions are cut into chunks of compute.chunk_size; each chunk has its own sampling seed, so the results
    do not depend on how many processes share the work: in a launched group, rank r explains the r-th unfinished
    chunk of each wave and the main rank saves the whole wave (each chunk reaches the store once).
    """
    procs, store, project_id = ctx.procs, ctx.store, ctx.project_id
    needs = get_strategy(ctx.cfg.selection.strategy).needs if needs is None else needs
    ids, done = procs.share((ids, store.explanations.explained_ids(project_id, rnd)))  # one plan for every rank
    size = ctx.cfg.compute.chunk_size
    chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
    todo = [n for n, c in enumerate(chunks) if not set(c) <= done]
    student = ctx.student_for(rnd)
    style, generated = ctx.style(student.tokenizer), student.generated_tokens
    finished = len(ids) - sum(len(chunks[n]) for n in todo)
    if procs.is_main:
        ctx.progress("explain", finished, len(ids))
    for start in range(0, len(todo), procs.world):
        ctx.check_cancel()
        wave = todo[start:start + procs.world]
        mine = wave[procs.rank] if procs.rank < len(wave) else None
        result = None if mine is None else explain_examples(
            student, store.examples.list(project_id, ids=chunks[mine]), ctx.cfg, needs,
            seed=ctx.cfg.rounds.seed + 1000 * rnd + mine, style=style,
            check_stop=ctx.check_cancel if procs.world == 1 else None)  # a group stops together, between waves
        for n, explained in procs.gather((mine, result)):
            if n is not None and procs.is_main:
                store.explanations.save(project_id, rnd, explained)
                finished += len(chunks[n])
        if procs.is_main:
            ctx.progress("explain", finished, len(ids))
    detail = f"{len(ids)} questions" + (f" on {procs.world} processes" if procs.world > 1 else "")
    return detail, student.generated_tokens - generated
