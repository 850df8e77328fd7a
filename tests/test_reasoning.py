"""reasoning.py: the explanation format, step splitting and answer normalisation (DESIGN §1, Explanation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elad_engine.method.reasoning import (
    ANSWER_TRIGGER,
    build_prompt,
    format_explanation,
    format_steps,
    probe_prefix,
    short_answer,
    split_steps,
)
from elad_engine.tasks.registry import task_for


# Answers are read and compared by the project's task (elad_engine/tasks/); these are the number, choice, label and
# text tasks without row choices.
def normalize_answer(raw, answer_type="number"):
    return task_for(answer_type).normalize(raw)


def answers_match(a, b, answer_type="number"):
    return task_for(answer_type).matches(a, b)


def gold_is_valid(raw, answer_type):
    return task_for(answer_type).gold_problem(raw, ["A", "B", "C"] if answer_type == "choice" else None) is None

GSM8K_TEST = Path(__file__).resolve().parents[2] / "shared/datasets/gsm8k/test.jsonl"


# --- split_steps -----------------------------------------------------------------------------------

def test_split_numbered_steps_and_answer():
    text = "1. 17 + 7 = 24\n2. 24 * 2 = 48\n3. 48 + 8 = 56\nThe answer is 56."
    assert split_steps(text) == (["17 + 7 = 24", "24 * 2 = 48", "48 + 8 = 56"], "56.")


def test_split_paren_and_step_colon_numbering():
    text = "1) Ann has 5.\nStep 2: 5 + 3 = 8\nstep 3 . 8 * 2 = 16\nThe answer is 16."
    assert split_steps(text) == (["Ann has 5.", "5 + 3 = 8", "8 * 2 = 16"], "16.")


def test_split_skips_blank_and_numbering_only_lines():
    text = "\n1. a\n\n   \n2.\n3. b\n\nThe answer is 3."
    assert split_steps(text) == (["a", "b"], "3.")


def test_split_crlf_line_endings():
    assert split_steps("1. a\r\n2. b\r\nThe answer is 7.") == (["a", "b"], "7.")


def test_split_ignores_text_after_the_first_answer_line():
    text = "1. a\nThe answer is 3.\n4. extra step\nThe answer is 9."
    assert split_steps(text) == (["a"], "3.")


def test_split_without_answer_line_gives_none():
    assert split_steps("1. a\n2. b\n") == (["a", "b"], None)
    assert split_steps("") == ([], None)


def test_split_answer_on_the_same_line_as_a_step():
    text = "1. 17 + 7 = 24\n2. 24 * 2 = 48. The answer is 48."
    assert split_steps(text) == (["17 + 7 = 24", "24 * 2 = 48."], "48.")


def test_split_answer_line_with_only_numbering_before_it_adds_no_step():
    assert split_steps("1. a\n2. The answer is 4.") == (["a"], "4.")


def test_split_trigger_is_case_insensitive_and_takes_a_colon():
    assert split_steps("1. a\nthe answer is: 7") == (["a"], "7")
    assert split_steps("THE ANSWER IS   12 apples.") == ([], "12 apples.")


# --- normalize_answer ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("1,234", "1234"),
    ("1,000,000", "1000000"),
    ("$12", "12"),
    ("$1,234.50", "1234.5"),
    ("50%", "50"),
    ("12.0", "12"),
    ("12.50", "12.5"),
    ("12.500", "12.5"),
    ("100", "100"),
    ("1,000.00", "1000"),
    ("-3", "-3"),
    ("\u22125", "-5"),
    ("-0", "0"),
    ("0.0", "0"),
    (".5", "0.5"),
    ("about 42 apples.", "42"),
    ("48.", "48"),
    ("She has 7 left, then 9", "7"),
])
def test_normalize_number(raw, expected):
    assert normalize_answer(raw, "number") == expected


def test_normalize_number_is_the_default_type():
    assert normalize_answer("12.50") == "12.5"


@pytest.mark.parametrize("raw", ["no number here", "", "   ", "-"])
def test_normalize_number_without_a_number_is_none(raw):
    assert normalize_answer(raw, "number") is None


def test_normalize_none_is_none_for_every_type():
    for answer_type in ("number", "choice", "label", "text"):
        assert normalize_answer(None, answer_type) is None


@pytest.mark.parametrize("raw, expected", [
    ("(b)", "B"), ("C.", "C"), ("c) cats", "C"), ("B", "B"), (" (a) ", "A"), ("d: dogs", "D"),
])
def test_normalize_choice(raw, expected):
    assert normalize_answer(raw, "choice") == expected


@pytest.mark.parametrize("raw", ["Dogs", "", "(12)"])
def test_normalize_choice_unreadable_is_none(raw):
    assert normalize_answer(raw, "choice") is None


def test_normalize_label():
    assert normalize_answer(" Positive. ", "label") == "positive"
    assert normalize_answer("Very   Negative", "label") == "very negative"
    assert normalize_answer("", "label") is None
    assert normalize_answer("...", "label") is None


def test_normalize_text_keeps_case_and_collapses_whitespace():
    assert normalize_answer("  The   Eiffel\nTower. ", "text") == "The Eiffel Tower"
    assert normalize_answer(" . ", "text") is None


# --- answers_match / gold_is_valid -----------------------------------------------------------------

def test_answers_match():
    assert answers_match("1,234", "1234.0") is True
    assert answers_match("$12.50", "12.5") is True
    assert answers_match("12", "13") is False
    assert answers_match(None, None) is False
    assert answers_match("abc", "abc") is False  # neither is a number
    assert answers_match(None, "12") is False
    assert answers_match("(b)", "B.", "choice") is True
    assert answers_match("(b)", "C", "choice") is False
    assert answers_match("Positive", "positive.", "label") is True
    assert answers_match("Paris", "paris", "text") is False


@pytest.mark.parametrize("raw, answer_type, expected", [
    ("12", "number", True),
    ("1,234", "number", True),
    ("$5", "number", True),
    ("12.5", "number", True),
    ("-7", "number", True),
    ("abc", "number", False),
    ("nan", "number", False),
    ("NaN", "number", False),
    ("inf", "number", False),
    ("12 apples", "number", False),  # the whole gold must be a number, not just a prefix
    ("", "number", False),
    ("B", "choice", True),
    ("Dogs", "choice", False),
    ("positive", "label", True),
    ("", "label", False),
    ("Paris", "text", True),
])
def test_gold_is_valid(raw, answer_type, expected):
    assert gold_is_valid(raw, answer_type) is expected


# --- format_explanation / probe_prefix / prompt ----------------------------------------------------

def test_build_prompt():
    assert build_prompt("  What is 2+3? ") == "Question: What is 2+3?\nAnswer:\n"


def test_format_steps():
    assert format_steps([" a ", "b"]) == "1. a\n2. b\n"
    assert format_steps([]) == ""


def test_format_explanation_exact():
    assert format_explanation(["17 + 7 = 24", " 24 * 2 = 48 "], "48") == \
        "1. 17 + 7 = 24\n2. 24 * 2 = 48\nThe answer is 48."
    assert format_explanation(["a"], " 48. ") == "1. a\nThe answer is 48."
    assert format_explanation([], "5") == "The answer is 5."


def test_probe_prefix_exact():
    steps = ["2 + 3 = 5", "5 * 2 = 10"]
    assert probe_prefix(" What is it? ", steps, 0) == "Question: What is it?\nAnswer:\nThe answer is"
    assert probe_prefix(" What is it? ", steps, 1) == "Question: What is it?\nAnswer:\n1. 2 + 3 = 5\nThe answer is"
    assert probe_prefix(" What is it? ", steps, 2) == \
        "Question: What is it?\nAnswer:\n1. 2 + 3 = 5\n2. 5 * 2 = 10\nThe answer is"
    assert ANSWER_TRIGGER == "The answer is"


def test_probe_prefix_of_all_steps_is_a_prefix_of_the_explanation():
    steps = ["2 + 3 = 5", "5 * 2 = 10"]
    full = build_prompt("q") + format_explanation(steps, "10")
    assert full.startswith(probe_prefix("q", steps, 2))
    assert full == probe_prefix("q", steps, 2) + " 10."


def test_format_then_split_round_trip():
    steps = ["17 + 7 = 24", "24 * 2 = 48"]
    assert split_steps(format_explanation(steps, "48")) == (steps, "48.")


@pytest.mark.parametrize("text, expected", [
    (" 48. Next", "48"),
    ("12.5 apples\nmore", "12.5 apples"),
    ("7", "7"),
    ("B. because", "B"),
])
def test_short_answer(text, expected):
    assert short_answer(text) == expected


# --- the real GSM8K rows ---------------------------------------------------------------------------

def test_gsm8k_first_50_rows_gold_and_round_trip():
    if not GSM8K_TEST.exists():
        pytest.skip(f"GSM8K test split not found at {GSM8K_TEST}")
    with GSM8K_TEST.open(encoding="utf-8") as f:
        rows = [json.loads(line) for _, line in zip(range(50), f)]
    assert len(rows) == 50
    for n, row in enumerate(rows):
        rationale, sep, gold_raw = row["answer"].rpartition("####")
        assert sep == "####", f"row {n}"
        gold = gold_raw.strip().replace(",", "")
        # GSM8K gold answers are integers: the normalised form is exactly the digits.
        assert gold.lstrip("-").isdigit(), f"row {n}: {gold_raw!r}"
        assert normalize_answer(gold_raw, "number") == gold, f"row {n}"
        assert gold_is_valid(gold_raw.strip(), "number") is True, f"row {n}"

        lines = [line.strip() for line in rationale.split("\n") if line.strip()]
        steps, answer = split_steps(rationale)
        assert answer is None, f"row {n}: the rationale has no answer line"
        assert steps == lines, f"row {n}: every non-empty rationale line is a step, unchanged"
        assert split_steps(format_explanation(steps, gold)) == (steps, gold + "."), f"row {n}"
        assert normalize_answer(split_steps(format_explanation(steps, gold))[1]) == gold, f"row {n}"
    first = rows[0]["answer"].rpartition("####")
    assert normalize_answer(first[2]) == "18"
    assert split_steps(first[0])[0] == ["Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.",
                                        "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market."]


def test_split_keeps_unnumbered_step_starting_with_a_decimal():
    assert split_steps("3.5 * 2 pints = 7 pints\n0.5 * 10 = 5\nThe answer is 5.") == \
        (["3.5 * 2 pints = 7 pints", "0.5 * 10 = 5"], "5.")
