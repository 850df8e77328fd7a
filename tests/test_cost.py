"""cost.py: the offline token counter, dollar prices and the budget check made before a teacher call."""

from __future__ import annotations

import pytest

from elad_engine.errors import BudgetExceeded, EladError
from elad_engine.method.cost import MESSAGE_OVERHEAD, Budget, count_message_tokens, count_tokens, dollars

# Tokens by the regex: words with their leading space, 1-3 digit groups, punctuation runs, whitespace.
# Each expected list is worked out by hand from the regex, and the count is its length.
CASES = [
    ("", []),
    ("hello world", ["hello", " world"]),
    ("The answer is 1234.", ["The", " answer", " is", " 123", "4", "."]),
    ("don't", ["don", "'t"]),
    ("we'll", ["we", "'ll"]),
    ("12,345", ["12", ",", "345"]),
    ("1234567", ["123", "456", "7"]),
    ("x = 17 + 7", ["x", " =", " 17", " +", " 7"]),
    ("$2.50", ["$", "2", ".", "50"]),
    ("a  b", ["a", " ", " b"]),
    ("Hi!\n\n", ["Hi", "!", "\n\n"]),
    ("a\nb", ["a", "\n", "b"]),
    ('{"answer": "56"}', ['{"', "answer", '":', ' "', "56", '"}']),
]


@pytest.mark.parametrize("text, tokens", CASES)
def test_count_tokens(text, tokens):
    assert "".join(tokens) == text  # the hand split covers the text exactly
    assert count_tokens(text) == len(tokens)


def test_count_tokens_exact_numbers():
    assert count_tokens("The answer is 1234.") == 6
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2


def test_count_message_tokens():
    assert MESSAGE_OVERHEAD == 4
    assert count_message_tokens([]) == 2
    assert count_message_tokens([{"role": "user", "content": "The answer is 1234."}]) == 6 + 4 + 2
    assert count_message_tokens([{"role": "system", "content": "hello world"},
                                 {"role": "user", "content": "Hi!"}]) == (2 + 4) + (2 + 4) + 2
    assert count_message_tokens([{"role": "user", "content": ""}]) == 0 + 4 + 2


def test_dollars_exact():
    assert dollars(1_000_000, 0, (2.5, 10.0)) == 2.5
    assert dollars(0, 1_000_000, (2.5, 10.0)) == 10.0
    assert dollars(1000, 200, (2.5, 10.0)) == 0.0045  # (2500 + 2000) / 1e6
    assert dollars(1234, 5678, (0.0, 0.0)) == 0.0
    assert dollars(0, 0, (2.5, 10.0)) == 0.0
    assert dollars(1000, 500, (0.15, 0.60)) == pytest.approx(0.00045, rel=1e-12)


SPENT = {"prompt_tokens": 100, "completion_tokens": 50, "cost_usd": 0.0}


def test_token_cap_equal_is_allowed():
    # 100 + 50 + 350 + 500 = 1000
    Budget(max_tokens=1000).check(SPENT, 350, 500, (0.0, 0.0))


def test_token_cap_exceeded_by_one():
    with pytest.raises(BudgetExceeded) as err:
        Budget(max_tokens=1000).check(SPENT, 351, 500, (0.0, 0.0))
    assert str(err.value) == ("teacher budget: the next call could bring the total to 1,001 tokens, over the cap "
                              "of 1,000 (rounds.budget_tokens); stopping before the call.")
    assert isinstance(err.value, EladError)


def test_token_cap_counts_the_worst_case_completion():
    # the prompt alone fits (100 + 50 + 10 = 160), but the worst case does not
    with pytest.raises(BudgetExceeded):
        Budget(max_tokens=1000).check(SPENT, 10, 841, (0.0, 0.0))
    Budget(max_tokens=1000).check(SPENT, 10, 840, (0.0, 0.0))


def test_dollar_cap_equal_is_allowed():
    spent = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.5}
    # 0.5 + (400_000 * 1 + 100_000 * 1) / 1e6 = 1.0
    Budget(max_dollars=1.0).check(spent, 400_000, 100_000, (1.0, 1.0))


def test_dollar_cap_exceeded():
    spent = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.5}
    with pytest.raises(BudgetExceeded) as err:
        Budget(max_dollars=1.0).check(spent, 400_000, 110_000, (1.0, 1.0))
    assert str(err.value) == ("teacher budget: the next call could bring the spend to $1.0100, over the cap of "
                              "$1.00 (rounds.budget_dollars); stopping before the call.")


def test_dollar_cap_uses_the_completion_price_for_the_worst_case():
    spent = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    # 1000 * 0 + 100_000 * 10 / 1e6 = 1.0: equal to the cap
    Budget(max_dollars=1.0).check(spent, 1000, 100_000, (0.0, 10.0))
    with pytest.raises(BudgetExceeded):
        Budget(max_dollars=1.0).check(spent, 1000, 100_001, (0.0, 10.0))


def test_token_cap_is_checked_first():
    spent = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 100.0}
    with pytest.raises(BudgetExceeded, match="rounds.budget_tokens"):
        Budget(max_tokens=10, max_dollars=1.0).check(spent, 11, 0, (1.0, 1.0))


def test_each_cap_alone():
    huge = {"prompt_tokens": 10**12, "completion_tokens": 10**12, "cost_usd": 10**9}
    Budget(max_tokens=0, max_dollars=0.0).check(huge, 10**9, 10**9, (1000.0, 1000.0))
    # a dollar cap with no token cap: any number of tokens, as long as the spend fits
    Budget(max_dollars=1.0).check({"prompt_tokens": 10**12, "completion_tokens": 0, "cost_usd": 0.0},
                                  10**9, 10**9, (0.0, 0.0))
    # a token cap with no dollar cap: any spend, as long as the tokens fit
    Budget(max_tokens=100).check({"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 10**9},
                                 50, 50, (1000.0, 1000.0))


def test_default_budget_has_no_caps():
    assert Budget() == Budget(max_tokens=0, max_dollars=0.0)
    Budget().check({"prompt_tokens": 10**9, "completion_tokens": 10**9, "cost_usd": 1e6}, 10**6, 10**6, (5.0, 5.0))
