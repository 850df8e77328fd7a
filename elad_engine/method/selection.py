"""Selection strategies: a plain dict registry, name -> Strategy. The base ranks by one score and breaks
ties with a seeded random order; a variant says which score it uses and what student work it needs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Strategy:
    """Ranks questions by `key` in the per-question scores (uncertainty.question_scores), highest first."""

    name: str
    key: str
    needs: frozenset  # student work the score needs: "samples" (M sampled explanations), "probes", "stats"
    description: str

    def score(self, scores: dict[str, float], rng: random.Random) -> float:
        if self.key not in scores:
            raise KeyError(f"strategy {self.name!r} needs the {self.key!r} score, which was not computed")
        return float(scores[self.key])

    def select(self, per_question: dict[str, dict[str, float]], budget: int, seed: int) -> list[tuple[str, float]]:
        """The top-`budget` (id, score) pairs; ties broken by a random order fixed by `seed`."""
        rng = random.Random(seed)
        ids = sorted(per_question)
        tie = {i: rng.random() for i in ids}
        scored = {i: self.score(per_question[i], rng) for i in ids}
        ranked = sorted(ids, key=lambda i: (-scored[i], tie[i]))
        return [(i, scored[i]) for i in ranked[:max(0, budget)]]


class RandomStrategy(Strategy):
    """Uniform random choice: the score is a seeded random draw, kept so the UI can show it."""

    def score(self, scores: dict[str, float], rng: random.Random) -> float:
        return rng.random()


STRATEGIES: dict[str, Strategy] = {
    "elad": Strategy("elad", "elad", frozenset({"samples", "probes"}),
                     "alpha * intra + (1 - alpha) * inter: answers that flip within and disagree between explanations"),
    "elad-intra": Strategy("elad-intra", "intra", frozenset({"samples", "probes"}),
                           "intra-explanation uncertainty only: how often the answer flips as steps are added"),
    "elad-inter": Strategy("elad-inter", "inter", frozenset({"samples"}),
                           "inter-explanation uncertainty only: disagreement between sampled explanations"),
    "answer-entropy": Strategy("answer-entropy", "answer_entropy", frozenset({"stats"}),
                               "predictive entropy of the greedy answer's tokens"),
    "perplexity": Strategy("perplexity", "perplexity", frozenset({"stats"}),
                           "mean token NLL of the greedy explanation"),
    "random": RandomStrategy("random", "random", frozenset(), "uniform random sample of the pool"),
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise KeyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
