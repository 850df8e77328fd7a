"""Pure uncertainty scores over student explanations (DESIGN §1). No model calls here: the student
module computes probe answers and probabilities; these functions turn them into numbers in [0, 1].
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..states import ExplanationKind
from .records import Explanation

UNPARSEABLE = "<unparseable>"  # every answer that could not be read falls in this one class


def inter_uncertainty(answers: list[str | None]) -> float:
    """Normalised entropy of the final answers of the M+1 explanations: H(c/sum c) / log(M+1)."""
    n = len(answers)
    if n <= 1:
        return 0.0
    counts = Counter(UNPARSEABLE if a is None else a for a in answers)
    h = -sum(c / n * math.log(c / n) for c in counts.values())
    return h / math.log(n)


def intra_hard(probe_answers: list[str | None]) -> float:
    """Share of steps after which the probe answer changed: (1/K) #{k : â_k != â_{k-1}}.

    probe_answers holds â_0..â_K; an explanation without steps (K = 0) has no flips and scores 0.
    """
    k = len(probe_answers) - 1
    if k <= 0:
        return 0.0
    norm = [UNPARSEABLE if a is None else a for a in probe_answers]
    return sum(norm[i] != norm[i - 1] for i in range(1, k + 1)) / k


def intra_soft(probs: list[float]) -> float:
    """(1 - p_K) + sum_k max(0, p_{k-1} - p_k), clipped to [0, 1]; p_k = P(final answer | steps 1..k)."""
    if not probs:
        return 1.0
    return min(1.0, max(0.0, (1.0 - probs[-1]) + confidence_drops(probs)))


def confidence_drops(probs: list[float]) -> float:
    """sum_k max(0, p_{k-1} - p_k): how much P(final answer) fell along the steps."""
    return sum(max(0.0, a - b) for a, b in zip(probs, probs[1:]))


def _norm(answers: list[str | None]) -> list[str]:
    return [UNPARSEABLE if a is None else a for a in answers]


def steps_flipped(probe_answers: list[str | None]) -> list[bool]:
    """Per step k (1..K): did the probe answer change after it (â_k != â_{k-1})? Progress on a chain of
    calculations changes it after nearly every step, right or wrong."""
    norm = _norm(probe_answers)
    return [norm[k] != norm[k - 1] for k in range(1, len(norm))]


def steps_left_final(probe_answers: list[str | None]) -> list[bool]:
    """Per step k: had the probe reached the explanation's final answer â_K and then left it
    (â_{k-1} == â_K != â_k)? The anchored flip: instability, not progress."""
    norm = _norm(probe_answers)
    final = norm[-1] if norm else UNPARSEABLE
    return [norm[k - 1] == final and norm[k] != final for k in range(1, len(norm))]


def steps_confidence_dropped(probs: list[float], margin: float = 0.1) -> list[bool]:
    """Per step k: did P(final answer | steps 1..k) fall by more than `margin` after it?"""
    return [probs[k - 1] - probs[k] > margin for k in range(1, len(probs))]


@dataclass(frozen=True)
class IntraVariant:
    """One intra-explanation score: the per-step instability it sees (shaded on the Review page) and the score of
    an explanation; `needs_probs` when it reads P(final answer | prefix) rather than the probe answers."""

    name: str
    description: str
    needs_probs: bool
    unstable: Callable[[Explanation], list[bool]]
    score: Callable[[Explanation], float]


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _probs(x) -> list[float]:
    return x.probe_probs or []


INTRA: dict[str, IntraVariant] = {v.name: v for v in [
    IntraVariant("hard", "share of steps after which the probe answer changed (the paper's flip count)", False,
                 lambda x: steps_flipped(x.probe_answers or []), lambda x: intra_hard(x.probe_answers or [])),
    IntraVariant("anchored", "share of steps after which the probe left the final answer it had reached", False,
                 lambda x: steps_left_final(x.probe_answers or []),
                 lambda x: _share(steps_left_final(x.probe_answers or []))),
    IntraVariant("soft", "1 - P(final answer | all steps) plus every drop of that probability along the steps", True,
                 lambda x: steps_confidence_dropped(_probs(x)), lambda x: intra_soft(_probs(x))),
    IntraVariant("soft-drops", "the drops of P(final answer | steps 1..k) along the steps, without the end term",
                 True, lambda x: steps_confidence_dropped(_probs(x)),
                 lambda x: min(1.0, confidence_drops(_probs(x)))),
    IntraVariant("final-confidence", "1 - P(final answer | all steps): how unsure the end of the explanation is",
                 True, lambda x: [False] * max(0, len(_probs(x)) - 1), lambda x: 1.0 - (_probs(x) or [0.0])[-1]),
]}


def intra_variant(name: str) -> IntraVariant:
    if name not in INTRA:
        raise KeyError(f"unknown intra variant {name!r}; known: {', '.join(INTRA)}")
    return INTRA[name]


def combined(intra: float, inter: float, alpha: float) -> float:
    """u(q) = alpha * u_intra(q) + (1 - alpha) * u_inter(q)."""
    return alpha * intra + (1.0 - alpha) * inter


def question_scores(explanations: list, alpha: float, intra: str = "hard") -> dict[str, float]:
    """Every score of one question from its greedy + sampled explanations (records.Explanation).

    Returns intra, inter, elad (combined), answer_entropy and perplexity (from the greedy explanation);
    a score whose inputs were not computed is absent.
    """
    out: dict[str, float] = {}
    greedy = next((x for x in explanations if x.kind == ExplanationKind.GREEDY), None)
    if len(explanations) > 1:
        out["inter"] = inter_uncertainty([x.answer for x in explanations])
    variant = intra_variant(intra)
    per = [variant.score(x) for x in explanations
           if (x.probe_probs if variant.needs_probs else x.probe_answers) is not None]
    if per:
        out["intra"] = sum(per) / len(per)
    if "intra" in out and "inter" in out:
        out["elad"] = combined(out["intra"], out["inter"], alpha)
    if greedy is not None and greedy.answer_entropy is not None:
        out["answer_entropy"] = greedy.answer_entropy
    if greedy is not None and greedy.mean_nll is not None:
        out["perplexity"] = greedy.mean_nll
    return out
