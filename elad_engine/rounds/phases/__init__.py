"""The phases of a round, one module each, found through the plain registry `PHASES`. A phase is a function
`(RoundContext, round) -> PhaseResult`; it is idempotent and resumable: rerun after a crash, it skips finished work.
"""

from __future__ import annotations

from collections.abc import Callable

from ...states import Phase
from ..context import RoundContext
from . import baseline, evaluate, explain, review, revise, score, select, train
from .result import PhaseResult

PhaseFn = Callable[[RoundContext, int], PhaseResult]

PHASES: dict[Phase, PhaseFn] = {
    Phase.BASELINE: baseline.run,
    Phase.EXPLAIN: explain.run,
    Phase.SCORE: score.run,
    Phase.SELECT: select.run,
    Phase.REVISE: revise.run,
    Phase.REVIEW: review.run,
    Phase.TRAIN: train.run,
    Phase.EVALUATE: evaluate.run,
}

__all__ = ["PHASES", "PhaseFn", "PhaseResult"]
