"""Pure uncertainty scores over student explanations (DESIGN §1). No model calls here: the student
module computes probe answers and probabilities; these functions turn them into numbers in [0, 1].
"""

from __future__ import annotations

import math
from collections import Counter

from ..states import ExplanationKind

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
    drops = sum(max(0.0, probs[i - 1] - probs[i]) for i in range(1, len(probs)))
    return min(1.0, max(0.0, (1.0 - probs[-1]) + drops))


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
    if intra == "soft":
        per = [intra_soft(x.probe_probs) for x in explanations if x.probe_probs is not None]
    else:
        per = [intra_hard(x.probe_answers) for x in explanations if x.probe_answers is not None]
    if per:
        out["intra"] = sum(per) / len(per)
    if "intra" in out and "inter" in out:
        out["elad"] = combined(out["intra"], out["inter"], alpha)
    if greedy is not None and greedy.answer_entropy is not None:
        out["answer_entropy"] = greedy.answer_entropy
    if greedy is not None and greedy.mean_nll is not None:
        out["perplexity"] = greedy.mean_nll
    return out
