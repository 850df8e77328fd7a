"""uncertainty.py: inter/intra uncertainty, the combined score and the per-question score dict (DESIGN §1)."""

from __future__ import annotations

import math

import pytest

from elad_engine.method.records import Explanation
from elad_engine.method.uncertainty import combined, inter_uncertainty, intra_hard, intra_soft, question_scores
from elad_engine.states import ExplanationKind

TOL = dict(rel=1e-12, abs=1e-15)


def entropy(*ps: float) -> float:
    return -sum(p * math.log(p) for p in ps)


# --- inter -----------------------------------------------------------------------------------------

def test_inter_all_same_is_zero():
    assert inter_uncertainty(["48"] * 5) == 0.0


def test_inter_all_distinct_is_one():
    assert inter_uncertainty(["1", "2", "3", "4", "5"]) == pytest.approx(1.0, **TOL)


def test_inter_three_two_split():
    expected = entropy(0.6, 0.4) / math.log(5)
    assert inter_uncertainty(["a", "a", "a", "b", "b"]) == pytest.approx(expected, **TOL)
    assert expected == pytest.approx(0.418166, abs=1e-6)  # 0.6730117 / 1.6094379


def test_inter_none_answers_are_one_class():
    expected = entropy(0.6, 0.4) / math.log(5)
    assert inter_uncertainty([None, None, "a", "a", "a"]) == pytest.approx(expected, **TOL)
    assert inter_uncertainty([None] * 5) == 0.0
    # two unparseable answers agree with each other, not with a parsed one
    assert inter_uncertainty([None, None]) == 0.0
    assert inter_uncertainty([None, "a"]) == pytest.approx(1.0, **TOL)


def test_inter_normalised_by_log_of_the_number_of_answers():
    # M=3 samples + greedy: counts 2,1,1 over 4 answers -> H = 1.5 log 2, log 4 = 2 log 2 -> 0.75
    assert inter_uncertainty(["x", "x", "y", "z"]) == pytest.approx(0.75, **TOL)


def test_inter_one_or_no_answer_is_zero():
    assert inter_uncertainty(["a"]) == 0.0
    assert inter_uncertainty([]) == 0.0


# --- intra (hard) ----------------------------------------------------------------------------------

def test_intra_hard_no_flips():
    assert intra_hard(["5", "5", "5", "5"]) == 0.0


def test_intra_hard_one_flip_among_four_steps():
    assert intra_hard(["3", "7", "7", "7", "7"]) == 0.25
    assert intra_hard(["7", "7", "7", "7", "3"]) == 0.25


def test_intra_hard_flip_back_and_forth():
    assert intra_hard(["1", "2", "1", "2", "1"]) == 1.0
    assert intra_hard(["1", "2", "1", "1"]) == pytest.approx(2 / 3, **TOL)


def test_intra_hard_no_steps_is_zero():
    assert intra_hard(["5"]) == 0.0
    assert intra_hard([]) == 0.0


def test_intra_hard_none_probes_are_one_class():
    assert intra_hard([None, None, "5"]) == 0.5
    assert intra_hard([None, "5", None]) == 1.0
    assert intra_hard([None, None, None]) == 0.0


# --- intra (soft) ----------------------------------------------------------------------------------

def test_intra_soft_monotone_rise_to_one_is_zero():
    assert intra_soft([0.2, 0.5, 0.8, 1.0]) == 0.0


def test_intra_soft_with_a_drop():
    # (1 - 0.9) + (0.8 - 0.6)
    assert intra_soft([0.5, 0.8, 0.6, 0.9]) == pytest.approx(0.1 + 0.2, **TOL)


def test_intra_soft_final_probability_only():
    assert intra_soft([0.25]) == 0.75
    assert intra_soft([0.1, 0.4]) == pytest.approx(0.6, **TOL)


def test_intra_soft_clipped_at_one():
    # 0.9 + 0.8 + 0.8 = 2.5 before clipping
    assert intra_soft([0.9, 0.1, 0.9, 0.1]) == 1.0


def test_intra_soft_empty_is_one():
    assert intra_soft([]) == 1.0


# --- combined --------------------------------------------------------------------------------------

def test_combined():
    assert combined(0.2, 0.6, 0.5) == pytest.approx(0.4, **TOL)
    assert combined(0.2, 0.6, 1.0) == 0.2
    assert combined(0.2, 0.6, 0.0) == 0.6
    assert combined(0.2, 0.6, 0.25) == pytest.approx(0.25 * 0.2 + 0.75 * 0.6, **TOL)


# --- question_scores -------------------------------------------------------------------------------

def expl(kind: str, idx: int, answer, probes=None, probs=None, entropy_=None, nll=None) -> Explanation:
    return Explanation(example_id="q1", kind=kind, sample_idx=idx, text="", steps=[], answer=answer,
                       probe_answers=probes, probe_probs=probs, answer_entropy=entropy_, mean_nll=nll)


def full_set() -> list[Explanation]:
    return [
        expl("greedy", 0, "48", probes=["3", "48", "48"], probs=[0.2, 0.5, 1.0], entropy_=0.7, nll=1.25),  # 1/2
        expl("sample", 1, "48", probes=["48", "48", "48", "48"], probs=[0.9, 0.6, 0.7]),  # 0
        expl("sample", 2, "50", probes=["50", "50"], probs=[1.0]),  # 0
        expl("sample", 3, None, probes=[None, "7", None], probs=[0.5, 0.5]),  # 2/2
    ]


def test_question_scores_every_key():
    scores = question_scores(full_set(), alpha=0.5)
    assert set(scores) == {"inter", "intra", "elad", "answer_entropy", "perplexity"}
    # answers 48, 48, 50, None: counts 2, 1, 1 over 4 -> 0.75 (see test above)
    assert scores["inter"] == pytest.approx(0.75, **TOL)
    assert scores["intra"] == pytest.approx((0.5 + 0.0 + 0.0 + 1.0) / 4, **TOL)
    assert scores["elad"] == pytest.approx(0.5 * 0.375 + 0.5 * 0.75, **TOL)
    assert scores["answer_entropy"] == 0.7
    assert scores["perplexity"] == 1.25


def test_question_scores_alpha_weights_the_combination():
    scores = question_scores(full_set(), alpha=0.2)
    assert scores["elad"] == pytest.approx(0.2 * 0.375 + 0.8 * 0.75, **TOL)


def test_question_scores_soft_mode_uses_probe_probs():
    scores = question_scores(full_set(), alpha=0.5, intra="soft")
    # greedy: (1 - 1.0) + 0 = 0; sample 1: (1 - 0.7) + 0.3 = 0.6; sample 2: 0; sample 3: 0.5
    assert scores["intra"] == pytest.approx((0.0 + 0.6 + 0.0 + 0.5) / 4, **TOL)
    assert scores["inter"] == pytest.approx(0.75, **TOL)
    assert scores["elad"] == pytest.approx(0.5 * 0.275 + 0.5 * 0.75, **TOL)


def test_question_scores_soft_mode_without_probs_has_no_intra():
    exps = [expl("greedy", 0, "1", probes=["1", "1"]), expl("sample", 1, "2", probes=["2", "1"])]
    scores = question_scores(exps, alpha=0.5, intra="soft")
    assert set(scores) == {"inter"}
    assert scores["inter"] == pytest.approx(1.0, **TOL)


def test_question_scores_only_explanations_with_probes_count_for_intra():
    exps = [expl("greedy", 0, "1", probes=["2", "1"]), expl("sample", 1, "1")]
    scores = question_scores(exps, alpha=0.5)
    assert scores == {"inter": 0.0, "intra": 1.0, "elad": 0.5}


def test_question_scores_greedy_only_has_no_inter_or_elad():
    scores = question_scores([expl("greedy", 0, "48", probes=["3", "48"], entropy_=0.1, nll=2.0)], alpha=0.5)
    assert scores == {"intra": 1.0, "answer_entropy": 0.1, "perplexity": 2.0}


def test_question_scores_without_probes_has_no_intra_or_elad():
    exps = [expl("greedy", 0, "48", nll=2.0), expl("sample", 1, "49")]
    scores = question_scores(exps, alpha=0.5)
    assert set(scores) == {"inter", "perplexity"}
    assert scores["inter"] == pytest.approx(1.0, **TOL)
    assert scores["perplexity"] == 2.0


def test_question_scores_stats_come_from_the_greedy_explanation_only():
    exps = [expl("sample", 1, "1", entropy_=0.9, nll=3.0), expl("sample", 2, "1", entropy_=0.9, nll=3.0)]
    assert question_scores(exps, alpha=0.5) == {"inter": 0.0}
    exps.append(expl("greedy", 0, "1", entropy_=0.4))
    assert question_scores(exps, alpha=0.5) == {"inter": 0.0, "answer_entropy": 0.4}


def test_question_scores_of_nothing_is_empty():
    assert question_scores([], alpha=0.5) == {}


# --- intra variants (method/uncertainty.py INTRA) ----------------------------------------------------------------

def _x(probes=None, probs=None):
    from elad_engine.method.records import Explanation
    return Explanation("q", ExplanationKind.GREEDY, 0, "", ["s"] * (len(probes or probs or [0]) - 1), None,
                       probe_answers=probes, probe_probs=probs)


def test_progress_is_a_flip_for_hard_but_not_for_anchored():
    from elad_engine.method.uncertainty import INTRA
    progress = _x(["9", "18", "12", "19"])  # a running value that changes after every step, ending at 19
    assert INTRA["hard"].score(progress) == 1.0 and INTRA["hard"].unstable(progress) == [True, True, True]
    assert INTRA["anchored"].score(progress) == 0.0 and INTRA["anchored"].unstable(progress) == [False] * 3
    wander = _x(["19", "19", "7", "19"])  # reached the final answer, left it, came back
    assert INTRA["anchored"].unstable(wander) == [False, True, False]
    assert INTRA["anchored"].score(wander) == pytest.approx(1 / 3, **TOL)


def test_probability_variants():
    from elad_engine.method.uncertainty import INTRA
    x = _x(probs=[0.2, 0.9, 0.5, 0.8])
    assert INTRA["soft-drops"].score(x) == pytest.approx(0.4, **TOL)
    assert INTRA["final-confidence"].score(x) == pytest.approx(0.2, **TOL)
    assert INTRA["soft"].score(x) == pytest.approx(0.6, **TOL)
    assert INTRA["soft-drops"].unstable(x) == [False, True, False]


def test_question_scores_use_the_chosen_variant_and_an_unknown_one_is_named():
    from elad_engine.method.uncertainty import question_scores
    xs = [_x(["9", "18", "12", "19"])]
    assert question_scores(xs, 0.5, "hard")["intra"] == 1.0 and question_scores(xs, 0.5, "anchored")["intra"] == 0
    with pytest.raises(KeyError, match="unknown intra variant 'medium'; known: hard, anchored"):
        question_scores(xs, 0.5, "medium")


def test_review_shading_follows_the_projects_signal():
    from elad_engine.review.sample_view import step_rows
    rows = step_rows(["a", "b", "c"], ["19", "19", "7", "19"], [], [False, True, False])
    assert [r.unstable for r in rows] == [False, True, False]
    assert [r.unstable for r in step_rows(["a"], ["1", "2"], [])] == [False]  # no signal: nothing shaded
