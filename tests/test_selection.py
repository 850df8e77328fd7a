"""selection.py: the strategy registry, top-b selection, seeded tie-breaking and the random strategy."""

from __future__ import annotations

import random

import pytest

from elad_engine.config import SelectionConfig
from elad_engine.method.selection import STRATEGIES, RandomStrategy, get_strategy

# Every key distinct across questions, so each strategy has one exact ranking.
SCORES = {
    "q1": {"elad": 0.90, "intra": 0.10, "inter": 0.50, "answer_entropy": 0.30, "perplexity": 2.0},
    "q2": {"elad": 0.20, "intra": 0.80, "inter": 0.40, "answer_entropy": 0.90, "perplexity": 1.0},
    "q3": {"elad": 0.50, "intra": 0.30, "inter": 0.95, "answer_entropy": 0.10, "perplexity": 4.0},
    "q4": {"elad": 0.70, "intra": 0.60, "inter": 0.05, "answer_entropy": 0.50, "perplexity": 3.0},
    "q5": {"elad": 0.10, "intra": 0.90, "inter": 0.20, "answer_entropy": 0.70, "perplexity": 0.5},
}


def test_registry_names_match_the_config_choices():
    choices = SelectionConfig.__dataclass_fields__["strategy"].metadata["choices"]
    assert list(STRATEGIES) == ["elad", "elad-intra", "elad-inter", "answer-entropy", "perplexity", "random"]
    assert set(STRATEGIES) == set(choices)
    for name, strategy in STRATEGIES.items():
        assert strategy.name == name
        assert strategy.description


def test_registry_keys_and_needs():
    assert {n: s.key for n, s in STRATEGIES.items()} == {
        "elad": "elad", "elad-intra": "intra", "elad-inter": "inter", "answer-entropy": "answer_entropy",
        "perplexity": "perplexity", "random": "random"}
    assert STRATEGIES["elad"].needs == frozenset({"samples", "probes"})
    assert STRATEGIES["elad-intra"].needs == frozenset({"samples", "probes"})
    assert STRATEGIES["elad-inter"].needs == frozenset({"samples"})
    assert STRATEGIES["answer-entropy"].needs == frozenset({"stats"})
    assert STRATEGIES["perplexity"].needs == frozenset({"stats"})
    assert STRATEGIES["random"].needs == frozenset()
    assert isinstance(STRATEGIES["random"], RandomStrategy)


@pytest.mark.parametrize("name, expected", [
    ("elad", [("q1", 0.90), ("q4", 0.70), ("q3", 0.50)]),
    ("elad-intra", [("q5", 0.90), ("q2", 0.80), ("q4", 0.60)]),
    ("elad-inter", [("q3", 0.95), ("q1", 0.50), ("q2", 0.40)]),
    ("answer-entropy", [("q2", 0.90), ("q5", 0.70), ("q4", 0.50)]),
    ("perplexity", [("q3", 4.0), ("q4", 3.0), ("q1", 2.0)]),
])
def test_each_strategy_selects_the_top_b(name, expected):
    assert get_strategy(name).select(SCORES, 3, seed=0) == expected


def test_selection_does_not_depend_on_the_seed_without_ties():
    for seed in range(5):
        assert get_strategy("elad").select(SCORES, 5, seed) == [
            ("q1", 0.90), ("q4", 0.70), ("q3", 0.50), ("q2", 0.20), ("q5", 0.10)]


def test_budget_larger_than_the_candidates_returns_all():
    assert get_strategy("perplexity").select(SCORES, 100, seed=0) == [
        ("q3", 4.0), ("q4", 3.0), ("q1", 2.0), ("q2", 1.0), ("q5", 0.5)]
    assert get_strategy("elad").select({}, 3, seed=0) == []


def test_budget_zero_selects_nothing():
    assert get_strategy("elad").select(SCORES, 0, seed=0) == []


def test_scores_are_returned_as_floats():
    picked = get_strategy("perplexity").select({"a": {"perplexity": 2}}, 1, seed=0)
    assert picked == [("a", 2.0)]
    assert type(picked[0][1]) is float


# --- ties ------------------------------------------------------------------------------------------

TIED_IDS = {"a", "b", "c", "d"}
TIED = {"a": {"elad": 0.5}, "b": {"elad": 0.5}, "c": {"elad": 0.5}, "d": {"elad": 0.5},
        "top": {"elad": 0.9}, "low": {"elad": 0.1}}


def expected_tie_order(ids: list[str], seed: int) -> list[str]:
    """The documented rule: one seeded random draw per id, in sorted id order; lower draw first."""
    rng = random.Random(seed)
    tie = {i: rng.random() for i in sorted(ids)}
    return sorted(ids, key=lambda i: tie[i])


def test_ties_broken_by_a_seeded_order():
    all_ids = sorted(TIED)
    for seed in range(10):
        picked = get_strategy("elad").select(TIED, 6, seed)
        ids = [i for i, _ in picked]
        assert ids[0] == "top" and ids[-1] == "low"  # the score decides first
        assert ids[1:5] == [i for i in expected_tie_order(all_ids, seed) if i in TIED_IDS]
        assert [s for _, s in picked] == [0.9, 0.5, 0.5, 0.5, 0.5, 0.1]


def test_same_seed_same_order():
    strategy = get_strategy("elad")
    assert strategy.select(TIED, 6, 7) == strategy.select(TIED, 6, 7)
    assert strategy.select(dict(reversed(list(TIED.items()))), 6, 7) == strategy.select(TIED, 6, 7)


def test_some_seed_gives_a_different_tie_order():
    strategy = get_strategy("elad")
    base = strategy.select(TIED, 6, 0)
    others = [strategy.select(TIED, 6, s) for s in range(1, 20)]
    assert any(o != base for o in others)
    assert all([i for i, _ in o][1:5] != [i for i, _ in base][1:5] for o in others if o != base)


def test_ties_at_the_budget_boundary_follow_the_seed():
    picked = get_strategy("elad").select(TIED, 3, seed=3)
    order = [i for i in expected_tie_order(sorted(TIED), 3) if i in TIED_IDS]
    assert picked == [("top", 0.9), (order[0], 0.5), (order[1], 0.5)]


# --- random ----------------------------------------------------------------------------------------

def test_random_is_reproducible_and_returns_its_draws():
    pool = {f"q{i}": {} for i in range(8)}  # random needs no score at all
    strategy = get_strategy("random")
    picked = strategy.select(pool, 8, seed=11)
    assert picked == strategy.select(pool, 8, seed=11)
    # By the definition: the tie draws for the sorted ids come first, then one score draw per sorted id.
    rng = random.Random(11)
    ids = sorted(pool)
    tie = {i: rng.random() for i in ids}
    draws = {i: rng.random() for i in ids}
    assert picked == [(i, draws[i]) for i in sorted(ids, key=lambda i: (-draws[i], tie[i]))]
    assert all(0.0 <= s < 1.0 for _, s in picked)
    assert [s for _, s in picked] == sorted((s for _, s in picked), reverse=True)


def test_random_differs_between_seeds():
    pool = {f"q{i}": {} for i in range(8)}
    strategy = get_strategy("random")
    assert strategy.select(pool, 8, seed=1) != strategy.select(pool, 8, seed=2)
    assert [i for i, _ in strategy.select(pool, 8, seed=1)] != [i for i, _ in strategy.select(pool, 8, seed=2)]


def test_random_ignores_other_scores():
    strategy = get_strategy("random")
    assert [i for i, _ in strategy.select(SCORES, 5, seed=4)] == \
        [i for i, _ in strategy.select({k: {} for k in SCORES}, 5, seed=4)]


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, key", [("elad", "elad"), ("elad-intra", "intra"), ("elad-inter", "inter"),
                                       ("answer-entropy", "answer_entropy"), ("perplexity", "perplexity")])
def test_missing_score_key_raises_naming_the_strategy(name, key):
    per_question = {"q1": SCORES["q1"], "q2": {k: v for k, v in SCORES["q2"].items() if k != key}}
    with pytest.raises(KeyError) as err:
        get_strategy(name).select(per_question, 1, seed=0)
    assert f"strategy {name!r} needs the {key!r} score, which was not computed" in str(err.value)


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(KeyError) as err:
        get_strategy("entropy")
    assert ("unknown strategy 'entropy'; known: elad, elad-intra, elad-inter, answer-entropy, perplexity, random"
            in str(err.value))
