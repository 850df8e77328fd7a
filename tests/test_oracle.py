"""The oracle teacher, revision assembly (teachers/__init__.py) and the revision JSON parser (prompts.py)."""

from __future__ import annotations

import json
import random

import pytest

from elad_engine.config import TeacherConfig
from elad_engine.method.cost import count_message_tokens, count_tokens
from elad_engine.method.reasoning import format_explanation, split_steps
from elad_engine.method.records import Example, StepVerdict, TeacherResult
from elad_engine.method.revision import assemble, assembled_text
from elad_engine.tasks.synthetic import generate, make_problem
from elad_engine.teachers.oracle import OracleTeacher, check_step
from elad_engine.teachers.prompts import (
    full_messages,
    parse_full,
    parse_revision,
    render_full,
    render_revision,
    revision_messages,
)
from elad_engine.teachers.registry import make_teacher

GOLD_STEPS = ["17 + 7 = 24", "24 * 2 = 48", "48 + 8 = 56"]


def example(**kw) -> Example:
    base = dict(id="e1", question="Ann has 17 apples. She buys 7 more. She doubles them. She finds 8 more. "
                                  "How many apples does Ann have now?",
                answer="56", meta={"start": 17, "chain": [["+", 7], ["*", 2], ["+", 8]]})
    base.update(kw)
    return Example(**base)


def revise(steps, answer, show_gold=False, ex=None):
    """The oracle's own check of every step (its reply carries only the first error's kind)."""
    return OracleTeacher(show_gold=show_gold).judge(ex or example(), steps, answer)


def reply(steps, answer, show_gold=False, ex=None):
    """What the oracle sends back, parsed, with its token counts."""
    return OracleTeacher(show_gold=show_gold).revise(ex or example(), steps, answer)

# --- check_step ------------------------------------------------------------------------------------

@pytest.mark.parametrize("step, expected", [
    ("17 + 7 = 24", StepVerdict(True, "correct")),
    ("7 + 17 = 24", StepVerdict(True, "correct")),
    ("17 + 7 = 24.", StepVerdict(True, "correct")),
    ("17+7=24", StepVerdict(True, "correct")),
    ("17 + 7 = 25", StepVerdict(False, "arithmetic error: 17 + 7 = 24, not 25")),
    ("17 + 6 = 23", StepVerdict(False, "wrong numbers: this step should be 17 + 7")),
    ("17 - 7 = 10", StepVerdict(False, "wrong operation: this step should be 17 + 7")),
    ("17 plus 7 is 24", StepVerdict(False, "not an arithmetic step of the form 'a op b = c'")),
    ("Ann has 24 apples", StepVerdict(False, "not an arithmetic step of the form 'a op b = c'")),
])
def test_check_step_addition(step, expected):
    assert check_step(step, (17, "+", 7, 24)) == expected


@pytest.mark.parametrize("step, ok", [("24 * 2 = 48", True), ("2 * 24 = 48", True), ("24 x 2 = 48", True),
                                      ("24 \u00d7 2 = 48", True), ("24 * 3 = 72", False)])
def test_check_step_multiplication_spellings(step, ok):
    assert check_step(step, (24, "*", 2, 48)).correct is ok


def test_check_step_subtraction_does_not_commute():
    assert check_step("20 - 5 = 15", (20, "-", 5, 15)) == StepVerdict(True, "correct")
    wrong = StepVerdict(False, "wrong numbers: this step should be 20 - 5")
    assert check_step("5 - 20 = 15", (20, "-", 5, 15)) == wrong


# --- revise ----------------------------------------------------------------------------------------

def test_all_steps_correct_confirms_and_keeps_the_students_steps():
    student = ["7 + 17 = 24", "24 x 2 = 48", "48 + 8 = 56."]  # correct, but not in the canonical spelling
    r = revise(student, "56")
    assert r.status == "ok"
    assert r.first_error is None
    assert r.revised_steps == []
    assert r.answer == "56"
    assert r.verdicts == [StepVerdict(True, "correct")] * 3
    assert assemble(student, r) == (student, "56")
    assert assembled_text(student, r) == "1. 7 + 17 = 24\n2. 24 x 2 = 48\n3. 48 + 8 = 56.\nThe answer is 56."


def test_arithmetic_error_at_step_two():
    student = ["7 + 17 = 24", "24 * 2 = 46", "46 + 8 = 54"]
    r = revise(student, "54")
    assert r.first_error == 2
    assert r.verdicts == [StepVerdict(True, "correct"),
                          StepVerdict(False, "arithmetic error: 24 * 2 = 48, not 46"),
                          StepVerdict(False, "wrong numbers: this step should be 48 + 8")]
    assert r.revised_steps == ["24 * 2 = 48", "48 + 8 = 56"]
    assert r.answer == "56"
    assert assemble(student, r) == (["7 + 17 = 24", "24 * 2 = 48", "48 + 8 = 56"], "56")
    # step 1 is kept exactly as the student wrote it
    assert assembled_text(student, r) == "1. 7 + 17 = 24\n2. 24 * 2 = 48\n3. 48 + 8 = 56\nThe answer is 56."


def test_wrong_operand_at_step_one_rewrites_everything():
    student = ["17 + 6 = 23", "23 * 2 = 46", "46 + 8 = 54"]
    r = revise(student, "54")
    assert r.first_error == 1
    assert r.verdicts[0] == StepVerdict(False, "wrong numbers: this step should be 17 + 7")
    assert r.revised_steps == GOLD_STEPS
    assert assemble(student, r) == (GOLD_STEPS, "56")
    assert assembled_text(student, r) == format_explanation(GOLD_STEPS, "56")


def test_later_errors_do_not_move_the_first_error():
    student = ["17 + 7 = 24", "24 * 2 = 48", "48 + 9 = 57"]
    r = revise(student, "57")
    assert r.first_error == 3
    assert r.revised_steps == ["48 + 8 = 56"]
    assert assemble(student, r) == (GOLD_STEPS, "56")


def test_missing_steps_first_error_is_one_past_the_last():
    student = ["17 + 7 = 24", "24 * 2 = 48"]
    r = revise(student, "48")
    assert r.verdicts == [StepVerdict(True, "correct")] * 2
    assert r.first_error == 3
    assert r.revised_steps == ["48 + 8 = 56"]
    assert assemble(student, r) == (GOLD_STEPS, "56")


def test_no_steps_at_all():
    r = revise([], "56")
    assert r.verdicts == []
    assert r.first_error == 1
    assert r.revised_steps == GOLD_STEPS
    assert assemble([], r) == (GOLD_STEPS, "56")


def test_extra_step_is_the_first_error():
    student = GOLD_STEPS + ["56 + 1 = 57"]
    r = revise(student, "57")
    assert r.verdicts[:3] == [StepVerdict(True, "correct")] * 3
    assert r.verdicts[3] == StepVerdict(False, "extra step: the problem needs only 3 steps")
    assert r.first_error == 4
    assert r.revised_steps == []
    assert r.answer == "56"
    assert assembled_text(student, r) == format_explanation(GOLD_STEPS, "56")


def test_correct_steps_but_wrong_final_answer():
    r = revise(GOLD_STEPS, "57")
    assert r.verdicts == [StepVerdict(True, "correct")] * 3
    assert r.first_error == 4
    assert r.revised_steps == []
    assert r.answer == "56"
    assert assemble(GOLD_STEPS, r) == (GOLD_STEPS, "56")


def test_correct_steps_but_no_answer():
    r = revise(GOLD_STEPS, None)
    assert r.first_error == 4
    assert r.answer == "56"


def test_answer_compared_numerically():
    assert revise(GOLD_STEPS, "56.0").first_error is None
    assert revise(GOLD_STEPS, "$56").first_error is None


def test_unparseable_step():
    student = ["Ann buys 7 more, so she has 24", "24 * 2 = 48", "48 + 8 = 56"]
    r = revise(student, "56")
    assert r.first_error == 1
    assert r.verdicts[0] == StepVerdict(False, "not an arithmetic step of the form 'a op b = c'")
    assert r.verdicts[1:] == [StepVerdict(True, "correct")] * 2
    assert r.revised_steps == GOLD_STEPS


@pytest.mark.parametrize("show_gold", [False, True])
@pytest.mark.parametrize("steps, answer", [(GOLD_STEPS, "56"), (["17 + 7 = 24", "24 * 2 = 46"], "46"),
                                           ([], None)])
def test_revision_token_counts(steps, answer, show_gold):
    ex = example()
    teacher = OracleTeacher(show_gold=show_gold)
    r = teacher.revise(ex, steps, answer)
    assert r.raw == render_revision(teacher.judge(ex, steps, answer))
    assert r.prompt_tokens == count_message_tokens(revision_messages(ex, steps, answer, show_gold))
    assert r.completion_tokens == count_tokens(r.raw)
    assert r.prompt_tokens > 0 and r.completion_tokens > 0


def test_show_gold_puts_the_reference_in_the_prompt_and_costs_more():
    ex = example()
    shown = revision_messages(ex, GOLD_STEPS, "56", True)[1]["content"]
    hidden = revision_messages(ex, GOLD_STEPS, "56", False)[1]["content"]
    assert "\nReference answer: 56" in shown and "Reference answer" not in hidden
    assert reply(GOLD_STEPS, "56", show_gold=True).prompt_tokens > reply(GOLD_STEPS, "56").prompt_tokens


def test_revision_prompt_lists_the_students_steps():
    user = revision_messages(example(), ["a", "b"], "5")[1]["content"]
    assert "Student explanation:\n1. a\n2. b\nThe answer is 5.\n" in user
    user = revision_messages(example(), [], None)[1]["content"]
    assert "Student explanation:\n(no steps)\nThe answer is (none).\n" in user


def test_raw_revision_json_is_the_lean_reply():
    r = reply(["17 + 7 = 24", "24 * 2 = 46"], "46")
    data = json.loads(r.raw)  # the first error and the kind of error; no verdict objects for the steps before it
    assert data == {"first_error": 2, "reason": "arithmetic error",
                    "revised_steps": ["24 * 2 = 48", "48 + 8 = 56"], "answer": "56"}
    assert r.verdicts == [StepVerdict(True, ""), StepVerdict(False, "arithmetic error")]  # what it said, no more
    assert r.completion_tokens == count_tokens(r.raw)


def test_a_v2_reply_with_a_verdict_per_step_still_parses():
    assert parse_revision(json.dumps(REPLY), 2).verdicts == [StepVerdict(True, "ok"), StepVerdict(False, "bad")]


# --- annotate_full ---------------------------------------------------------------------------------

def test_annotate_full_returns_the_canonical_solution():
    ex = example()
    r = OracleTeacher().annotate_full(ex)
    assert r.status == "ok"
    assert r.verdicts == []
    assert r.first_error == 1
    assert r.revised_steps == GOLD_STEPS
    assert r.answer == "56"
    assert r.raw == render_full(GOLD_STEPS, "56")
    assert r.prompt_tokens == count_message_tokens(full_messages(ex))
    assert r.completion_tokens == count_tokens(render_full(GOLD_STEPS, "56"))
    assert assemble([], r) == (GOLD_STEPS, "56")
    assert assembled_text(["anything"], r) == "1. 17 + 7 = 24\n2. 24 * 2 = 48\n3. 48 + 8 = 56\nThe answer is 56."


def test_annotate_full_without_any_solution_fails_cleanly():
    ex = Example(id="x", question="What is the colour of the sky?", answer="blue")
    r = OracleTeacher().annotate_full(ex)
    assert r.status == "teacher_failed"
    assert r.error == "the oracle has no solution for this example"
    assert r.prompt_tokens == count_message_tokens(full_messages(ex)) and r.completion_tokens == 0
    assert assemble([], r) is None
    assert assembled_text([], r) is None


def test_generated_problems_round_trip_through_the_oracle():
    teacher = OracleTeacher()
    problems = generate(24, seed=5) + [make_problem(random.Random(1), 4, "m4")]
    for ex in problems:
        steps, raw = split_steps(ex.rationale)
        assert len(steps) == ex.difficulty == len(ex.meta["chain"])
        confirmed = teacher.revise(ex, steps, raw)
        assert confirmed.first_error is None, ex.id
        assert assembled_text(steps, confirmed) == ex.rationale
        assert assembled_text([], teacher.annotate_full(ex)) == ex.rationale
        # break the last step's result: the oracle rewrites exactly that step
        a, rest = steps[-1].rsplit("= ", 1)
        broken = steps[:-1] + [f"{a}= {int(rest) + 1}"]
        fixed = teacher.revise(ex, broken, str(int(ex.answer) + 1))
        assert fixed.first_error == len(steps), ex.id
        assert fixed.revised_steps == [steps[-1]]
        assert assembled_text(broken, fixed) == ex.rationale


# --- gold-rationale fallback (no synthetic chain) --------------------------------------------------

RATIONALE = "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day."
RATIONALE_STEPS = ["Janet sells 16 - 3 - 4 = 9 duck eggs a day.", "She makes 9 * 2 = $18 every day."]


def gsm_example() -> Example:
    return Example(id="g1", question="How much does Janet make?", answer="18", rationale=RATIONALE)


def test_fallback_right_answer_is_confirmed():
    student = ["16 - 7 = 9", "9 * 2 = 18"]
    r = revise(student, "18", ex=gsm_example())
    assert r.first_error is None
    assert r.verdicts == [StepVerdict(True, "final answer matches the reference")] * 2
    assert r.revised_steps == []
    assert r.answer == "18"
    assert assemble(student, r) == (student, "18")


def test_fallback_wrong_answer_rewrites_with_the_rationale():
    student = ["16 - 3 = 13", "13 * 2 = 26"]
    r = revise(student, "26", ex=gsm_example())
    assert r.first_error == 1
    assert r.verdicts == [StepVerdict(False, "final answer is wrong")] * 2
    assert r.revised_steps == RATIONALE_STEPS
    assert r.answer == "18"
    assert assembled_text(student, r) == ("1. Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n"
                                          "2. She makes 9 * 2 = $18 every day.\nThe answer is 18.")


def test_fallback_annotate_full_uses_the_rationale():
    r = OracleTeacher().annotate_full(gsm_example())
    assert (r.revised_steps, r.answer, r.first_error) == (RATIONALE_STEPS, "18", 1)


def test_fallback_without_rationale_keeps_only_the_answer():
    ex = Example(id="g2", question="q", answer="18")
    r = revise(["x"], "20", ex=ex)
    assert (r.first_error, r.revised_steps, r.answer) == (1, [], "18")
    assert assembled_text(["x"], r) == "The answer is 18."


# --- assemble --------------------------------------------------------------------------------------

def result(first_error, revised, answer="9", status="ok") -> TeacherResult:
    return TeacherResult([], first_error, revised, answer, 0, 0, status=status)


def test_assemble_cases():
    student = ["s1", "s2", "s3"]
    assert assemble(student, result(None, ["ignored"])) == (student, "9")
    assert assemble(student, result(1, ["r1"])) == (["r1"], "9")
    assert assemble(student, result(3, ["r3", "r4"])) == (["s1", "s2", "r3", "r4"], "9")
    assert assemble(student, result(4, [])) == (student, "9")
    assert assemble(student, result(2, ["r2"], status="teacher_failed")) is None
    out, _ = assemble(student, result(None, []))
    assert out is not student  # a copy, not the caller's list


def test_assembled_text_strips_the_answer_period():
    assert assembled_text(["s1"], result(None, [], answer="9.")) == "1. s1\nThe answer is 9."


def test_make_teacher():
    teacher = make_teacher(TeacherConfig(show_gold=True))
    assert isinstance(teacher, OracleTeacher) and teacher.show_gold is True and teacher.name == "oracle"
    from elad_engine.errors import TeacherUnavailable
    from elad_engine.teachers.openai_compat import OpenAICompatTeacher

    local = make_teacher(TeacherConfig(kind="openai", model="m", api_key_env=""))
    assert isinstance(local, OpenAICompatTeacher) and local.model == "m"
    with pytest.raises(TeacherUnavailable, match="ELAD_TEST_UNSET_KEY is not set"):
        make_teacher(TeacherConfig(kind="openai", model="m", api_key_env="ELAD_TEST_UNSET_KEY"))


# --- parse_revision --------------------------------------------------------------------------------

REPLY = {"steps": [{"step": 1, "correct": True, "reason": "ok"}, {"step": 2, "correct": False, "reason": "bad"}],
         "first_error": 2, "revised_steps": ["24 * 2 = 48", "48 + 8 = 56"], "answer": "56"}


def check_reply(r: TeacherResult, raw: str) -> None:
    assert r.verdicts == [StepVerdict(True, "ok"), StepVerdict(False, "bad")]
    assert r.first_error == 2
    assert r.revised_steps == ["24 * 2 = 48", "48 + 8 = 56"]
    assert r.answer == "56"
    assert (r.prompt_tokens, r.completion_tokens, r.status, r.raw) == (0, 0, "ok", raw)


def test_parse_revision_plain_json():
    raw = json.dumps(REPLY)
    check_reply(parse_revision(raw, 2), raw)


def test_parse_revision_inside_code_fences():
    raw = "```json\n" + json.dumps(REPLY, indent=2) + "\n```"
    check_reply(parse_revision(raw, 2), raw)
    raw = "```\n" + json.dumps(REPLY) + "\n```"
    check_reply(parse_revision(raw, 2), raw)


def test_parse_revision_with_prose_around():
    raw = "Here is my check of the steps:\n" + json.dumps(REPLY) + "\nI hope this helps."
    check_reply(parse_revision(raw, 2), raw)
    raw = "Sure.\n```json\n" + json.dumps(REPLY) + "\n```\nDone."
    check_reply(parse_revision(raw, 2), raw)


def test_parse_revision_null_first_error_confirms():
    r = parse_revision(json.dumps({"first_error": None, "revised_steps": [], "answer": "56"}), 3)
    assert (r.first_error, r.revised_steps, r.answer) == (None, [], "56")
    assert r.verdicts == [StepVerdict(True, "")] * 3  # every step right, by the reply's own word


def test_parse_revision_cleans_steps_and_reads_a_digit_string():
    raw = json.dumps({"first_error": "2", "revised_steps": ["2. 24 * 2 = 48", "3) 48 + 8 = 56", "  "],
                      "answer": " 56 "})
    r = parse_revision(raw, 3)
    assert r.first_error == 2
    assert r.revised_steps == ["24 * 2 = 48", "48 + 8 = 56"]
    assert r.answer == "56"


@pytest.mark.parametrize("reply, why", [
    ({"first_error": 2, "revised_steps": ["24 * 2 = 48", 56], "answer": "56"}, "must be a list of strings"),
    ({"first_error": 2, "revised_steps": ["24 * 2 = 48", "56"], "answer": "56"}, "not bare values such as '56'"),
    ({"first_error": 1, "revised_steps": ["He has 5 more: 2 + 5 = 7"], "answer": "seven"}, "not a number answer"),
    ({"first_error": None, "revised_steps": [], "answer": "26"}, "is not the student's answer '56'"),
])
def test_parse_revision_refuses_inconsistent_replies(reply, why):
    """Schema-valid nonsense is a repair case: steps that are not text, an answer of the wrong type, or 'every step
    right' with an answer the student did not give."""
    with pytest.raises(ValueError, match=why):
        parse_revision(json.dumps(reply), 3, student_answer="56", answer_type="number")
    assert parse_revision(json.dumps({"first_error": None, "revised_steps": [], "answer": "56.0"}), 3,
                          student_answer="56").first_error is None  # the same answer, written otherwise


def test_parse_full_refuses_steps_that_are_not_text_and_answers_of_another_type():
    with pytest.raises(ValueError, match="not bare values"):
        parse_full(json.dumps({"steps": ["1", "2"], "answer": "5"}))
    with pytest.raises(ValueError, match="'maybe' is not a choice answer"):
        parse_full(json.dumps({"steps": ["Only B fits the question."], "answer": "maybe"}), "choice")
    assert parse_full(json.dumps({"steps": ["Only B fits the question."], "answer": "B"}), "choice").answer == "B"


@pytest.mark.parametrize("key", ["first_error", "revised_steps", "answer"])
def test_parse_revision_missing_key(key):
    data = {k: v for k, v in REPLY.items() if k != key}
    with pytest.raises(ValueError, match=f"the teacher's JSON has no '{key}'"):
        parse_revision(json.dumps(data), 2)


@pytest.mark.parametrize("bad", [0, 5, -1, True, 2.5, "two"])
def test_parse_revision_first_error_out_of_range(bad):
    data = dict(REPLY, first_error=bad)
    with pytest.raises(ValueError, match=r"'first_error' must be null or a step number from 1 to 4, got "):
        parse_revision(json.dumps(data), 3)


def test_parse_revision_first_error_bounds_are_inclusive():
    assert parse_revision(json.dumps(dict(REPLY, first_error=1)), 3).first_error == 1
    assert parse_revision(json.dumps(dict(REPLY, first_error=4)), 3).first_error == 4


@pytest.mark.parametrize("bad", ["24 * 2 = 48", {"a": 1}, None, [["nested"]]])
def test_parse_revision_revised_steps_must_be_a_list(bad):
    with pytest.raises(ValueError, match="'revised_steps' must be a list of strings"):
        parse_revision(json.dumps(dict(REPLY, revised_steps=bad)), 2)


def test_parse_revision_empty_answer_with_an_error():
    with pytest.raises(ValueError, match="'answer' is empty"):
        parse_revision(json.dumps(dict(REPLY, answer="  ")), 2)
    with pytest.raises(ValueError, match="'answer' is empty"):
        parse_revision(json.dumps(dict(REPLY, answer=None)), 2)


@pytest.mark.parametrize("raw, message", [
    ("I think step 2 is wrong.", "no JSON object"),
    ("[1, 2]", "not an object"),
    ("{\"first_error\": 2, \"answer\": }", "malformed"),
])
def test_parse_revision_not_json(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_revision(raw, 2)


def test_parse_full():
    r = parse_full('{"steps": ["1. a", "b"], "answer": "7"}')
    assert (r.revised_steps, r.answer, r.first_error) == (["a", "b"], "7", 1)
    with pytest.raises(ValueError, match="needs 'steps' and 'answer'"):
        parse_full('{"steps": ["a"]}')
    with pytest.raises(ValueError, match="no steps or no answer"):
        parse_full('{"steps": [], "answer": "7"}')


def test_parse_revision_keeps_steps_starting_with_a_decimal():
    raw = json.dumps({"first_error": 1, "revised_steps": ["0.5 * 10 = 5"], "answer": "5"})
    assert parse_revision(raw, 1).revised_steps == ["0.5 * 10 = 5"]


def test_annotate_full_with_an_empty_solution_fails_cleanly():
    ex = Example(id="g3", question="q", answer="18", rationale="The answer is 18.")
    r = OracleTeacher().annotate_full(ex)
    assert r.status == "teacher_failed"


def test_confirmed_revision_keeps_the_students_answer():
    from elad_engine.method.records import TeacherResult as TR
    from elad_engine.method.revision import assembled_text as at

    confirmed = TR([], None, [], "", 1, 1)  # a teacher that confirms but leaves the answer empty
    assert at(["a", "b"], confirmed, "7") == "1. a\n2. b\nThe answer is 7."
    assert at(["a"], TR([], None, [], "", 1, 1)) is None  # nothing to assemble: no answer from anyone
