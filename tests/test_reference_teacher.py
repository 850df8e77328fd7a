"""The reference teacher: reference solutions from the data play the teacher (step values checked, the student's
right leading steps kept, the rest rewritten with the reference's remaining steps), with the prompts and token counts
an LLM teacher would have, marked as simulated in the ledger, the review view and exports."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conftest import REPO
from elad_engine.config import ProjectConfig
from elad_engine.errors import TeacherError
from elad_engine.method.cost import count_message_tokens
from elad_engine.method.records import Example
from elad_engine.projects import import_file
from elad_engine.store import Store
from elad_engine.tasks.datasets import read_dataset
from elad_engine.teachers.prompts import parse_full, parse_revision, revision_messages
from elad_engine.teachers.protocol import build_request
from elad_engine.teachers.reference import ReferenceTeacher, arithmetic_holds, reference_of, step_result

GSM8K_SAMPLE = REPO / "tests" / "data" / "gsm8k_sample.jsonl"
NATALIA = Example("n1", "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
                  "May. How many clips did Natalia sell altogether in April and May?", "72",
                  rationale="Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April "
                  "and May.", meta={"calculations": ["48/2=24", "48+24=72"]})


def reply(example: Example, steps: list[str], answer: str | None, mode: str = "revision", answer_type="number"):
    request = build_request(example, mode, steps, answer, False, answer_type)
    return request, asyncio.run(ReferenceTeacher().send(request, request.messages, 512))


def revise(steps: list[str], answer: str | None, example: Example = NATALIA, answer_type: str = "number"):
    _, r = reply(example, steps, answer, answer_type=answer_type)
    return parse_revision(r.content, len(steps), answer, answer_type, example.choices)


def test_step_values_and_arithmetic_are_read_from_the_text():
    assert step_result("Natalia sold 48/2 = 24 clips in May.") == 24
    assert step_result("She earned 0.2 x 50 = $10.") == 10
    assert step_result("She has $1,200 left") == 1200
    assert step_result("70 = 27 + x") is None  # an equation with an unknown states no value
    assert step_result("Multiplying both sides by 20 gives 8p = 5p+$3000") is None
    assert arithmetic_holds("11 * 3 = 30") is False
    assert arithmetic_holds("100 - 50 - 30 - 15 = $5 more") is True
    assert arithmetic_holds("3 * 4 = 12 and 12 + 1 = 13") is True
    assert arithmetic_holds("3 * 4 = 12 and 12 + 1 = 14") is False
    assert arithmetic_holds("In May she sold 24 clips") is None  # no calculation to check


def test_a_right_explanation_is_confirmed_and_costs_what_an_llm_reply_would():
    request, r = reply(NATALIA, ["48 / 2 = 24", "48 + 24 = 72"], "72")
    assert json.loads(r.content)["first_error"] is None
    assert r.prompt_tokens == count_message_tokens(revision_messages(NATALIA, ["48 / 2 = 24", "48 + 24 = 72"], "72"))
    assert r.prompt_tokens == count_message_tokens(request.messages) and r.completion_tokens > 0


def test_the_right_leading_steps_are_kept_and_the_rest_comes_from_the_reference():
    wrong_sum = revise(["In May she sold 48 / 2 = 24 clips", "In all 48 + 24 = 70"], "70")
    assert wrong_sum.first_error == 2 and wrong_sum.answer == "72"
    assert wrong_sum.revised_steps == ["Natalia sold 48+24 = 72 clips altogether in April and May."]
    stopped_early = revise(["In April she sold 48 clips", "In May 48 / 2 = 24"], "24")
    assert stopped_early.first_error == 3  # every step right, the last one missing
    assert stopped_early.revised_steps == ["Natalia sold 48+24 = 72 clips altogether in April and May."]
    wrong_start = revise(["48 * 2 = 96", "48 + 96 = 144"], "144")  # a value the solution never has
    assert wrong_start.first_error == 1 and len(wrong_start.revised_steps) == 2
    bad_arithmetic = revise(["11 * 3 = 30"], "30")
    assert bad_arithmetic.first_error == 1
    looping = revise(["In May she sold 48 / 2 = 24 clips.", "In May she sold 48 / 2 = 24 clips."], "24")
    assert looping.first_error == 2  # a loop teaches nothing, whatever its numbers
    rambling = revise(["She sold 48 clips. So she sold 48 clips. So she sold 48 clips."], "48")
    assert rambling.first_error == 1


def test_full_annotation_is_the_reference_and_a_row_without_one_says_so():
    _, r = reply(NATALIA, [], None, mode="full")
    assert parse_full(r.content).revised_steps == reference_of(NATALIA, "number").steps
    bare = Example("b1", "What is 2 + 2?", "4")
    for mode in ("full", "revision"):
        with pytest.raises(TeacherError, match="only a final answer"):
            reply(bare, ["2 + 2 = 4"], "4", mode=mode)


def test_a_reference_without_values_is_checked_at_the_answer():
    facts = Example("s1", "Could a llama birth twice during the War in Vietnam?", "no", choices=["yes", "no"],
                    rationale="The War in Vietnam was 19 years long.\nA llama's gestation is about 11 months.")
    assert revise(["A llama gives birth yearly"], "no", facts, "label").first_error is None
    wrong = revise(["A llama gives birth yearly"], "yes", facts, "label")
    assert wrong.first_error == 1 and wrong.revised_steps == reference_of(facts, "label").steps


def test_gsm8k_keeps_its_calculator_annotations_as_the_reference_values():
    rows = read_dataset(GSM8K_SAMPLE, preset="gsm8k", split="pool")
    annotated = [r for r in rows if r.meta.get("calculations")]
    assert len(rows) == 96 and len(annotated) == 94  # two solve an equation in words, with no calculator call
    assert "<<" not in rows[0].rationale  # the text the student learns is without them
    first = reference_of(rows[0], "number")
    assert first.has_values and all(first.knows(float(c.split("=")[-1])) for c in rows[0].meta["calculations"])


def test_a_round_with_the_reference_teacher_is_marked_simulated_everywhere(tiny_chat_model_dir, tmp_path):
    from elad_engine.export import export_round
    from elad_engine.review.sample_view import sample
    from elad_engine.rounds.loop import RoundRunner

    store = Store(tmp_path / "ws")
    cfg = ProjectConfig().with_overrides(**{
        "student.path": str(tiny_chat_model_dir), "student.max_new_tokens": 16, "student.probe_max_tokens": 3,
        "uncertainty.samples": 1, "rounds.warmup": 4, "rounds.rounds": 1, "selection.round_budget": 4,
        "training.epochs": 1, "training.batch_size": 4, "review.policy": "auto-approve", "teacher.kind": "reference",
        # a tiny random model whose word-level tokenizer cannot read GSM8K: plumbing only, overridden on purpose
        "rounds.allow_misfit": "unreadable-text"})
    lines = GSM8K_SAMPLE.read_text().splitlines()
    pool, test = tmp_path / "pool.jsonl", tmp_path / "test.jsonl"
    pool.write_text("\n".join(lines[:20]) + "\n")
    test.write_text("\n".join(lines[20:26]) + "\n")
    pid, _ = import_file(store, "g", pool, preset="gsm8k", split="pool", config=cfg)
    import_file(store, "g", test, preset="gsm8k", split="test")
    outcome = RoundRunner(store, pid).run()
    assert (outcome.stop_reason, outcome.rounds_done) == ("completed", 2), outcome.message
    calls = store.database.query("SELECT model, simulated, cost_usd FROM teacher_calls WHERE project_id=?", [pid])
    assert calls and all(c["model"] == "reference" and c["simulated"] == 1 for c in calls)
    assert sum(c["cost_usd"] for c in calls) > 0  # priced as teacher.price_as, so it compares with an LLM's
    revisions = store.revisions.list(pid, 1)
    assert revisions and {r["teacher"] for r in revisions} == {"reference"}
    assert sample(store, revisions[0]["id"]).simulated
    out = export_round(store, pid, merged=False)
    records = [json.loads(line) for line in Path(out["dataset"]).read_text().splitlines()]
    assert records and all(r["simulated"] is True and r["teacher"] == "reference" for r in records)
    card = Path(out["card"]).read_text()
    assert "Simulated teacher" in card and f"{len(records)} of the {len(records)} training explanations" in card


def test_the_request_cache_tells_two_references_of_one_question_apart(tmp_path):
    """Two projects with the same question but different reference solutions get each its own reply."""
    from elad_engine.method.cost import Budget
    from elad_engine.teachers.dispatch import Ledger, run_requests

    store = Store(tmp_path / "ws")
    other = Example("n1", NATALIA.question, "96", rationale="She sold 48*2 = 96 clips.")
    answers = []
    for name, example in (("a", NATALIA), ("b", other)):
        pid = store.projects.create(name, ProjectConfig().with_overrides(**{"teacher.kind": "reference"}))
        store.examples.add(pid, [example], source="test")
        request = build_request(example, "full", [], None, False)
        ledger = Ledger(store, pid, 0, Budget(), (0.15, 0.6), "reference", simulated=True)
        run_requests(ReferenceTeacher(), [request], ledger, 512, lambda req, res: answers.append(res.answer))
    assert answers == ["72", "96"]
