"""Tasks as first-class objects: each task kind reads, checks and compares its answers and shows its choices; each
preset reads its dataset's published file (the small copies in tests/data/presets/, and the real files in
../shared/datasets/ when present); the mapping flags; import correctness; rounds on AQuA and StrategyQA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO
from elad_engine.config import ProjectConfig
from elad_engine.errors import ConfigError, DatasetError
from elad_engine.method.records import Example
from elad_engine.projects import import_file
from elad_engine.store import Store
from elad_engine.tasks.datasets import ColumnMapping, read_dataset
from elad_engine.tasks.presets import PRESETS
from elad_engine.tasks.registry import task_for

FIXTURES = REPO / "tests" / "data" / "presets"
SHARED = REPO.parent / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent: the real dataset files are "
                                                                "not on this machine")
CHOICE, LABEL, NUMBER = task_for("choice"), task_for("label"), task_for("number")


def put(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the task kinds --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [("B", "B"), ("(b)", "B"), ("B) 150", "B"), ("B.", "B"), ("150", "B"),
                                           ("a dog", None), ("I think B", None), ("F", None), ("(C) x", "C")])
def test_choice_answers_are_letters_of_the_rows_choices(raw, expected):
    assert CHOICE.normalize(raw, ["95", "150", "200"]) == expected


def test_choice_gold_must_be_among_the_rows_choices():
    assert CHOICE.gold_problem("B", ["x", "y"]) is None
    assert "not one of this row's 3 choices" in CHOICE.gold_problem("F", ["x", "y", "z"])
    assert "this row has no choices" in CHOICE.gold_problem("A", None)


@pytest.mark.parametrize("raw, expected", [("1e5", "100000"), ("2.5E-1", "0.25"), ("1,000", "1000"),
                                           ("4,2", None), ("1_000", None), ("1e999", None), ("$1,200.50", "1200.5")])
def test_numbers_in_scientific_underscore_and_comma_notation(raw, expected):
    assert NUMBER.normalize(raw) == expected


def test_number_gold_problems_name_the_fix():
    assert "write 1000" in NUMBER.gold_problem("1_000", None)
    assert "write 4.2 for a decimal or 42" in NUMBER.gold_problem("4,2", None)
    assert NUMBER.gold_problem("1e5", None) is None and NUMBER.gold_problem("1,250", None) is None


def test_labels_are_read_from_the_rows_label_set():
    labels = ["yes", "no"]
    assert [LABEL.normalize(r, labels) for r in ["Yes.", "no, because", "I think yes", "maybe"]] == \
        ["yes", "no", None, None]
    assert "not one of this row's labels" in LABEL.gold_problem("maybe", labels)


def test_the_student_and_the_teacher_see_the_lettered_choices():
    ex = Example("a", "How fast?", "B", choices=["95", "150 m"])
    assert CHOICE.student_text(ex) == "How fast?\nAnswer choices: (A) 95  (B) 150 m"
    assert LABEL.student_text(Example("s", "Is it?", "yes", choices=["yes", "no"])) == \
        "Is it?\nAnswer with one of: yes, no."
    from elad_engine.teachers.prompts import revision_messages
    assert "(B) 150 m" in revision_messages(ex, ["x"], "A", answer_type="choice")[1]["content"]


def test_a_one_line_rationale_becomes_sentences():
    assert NUMBER.rationale_steps("It has 3 + 4 = 7. Then 7 * 2 = 14.") == ["It has 3 + 4 = 7.", "Then 7 * 2 = 14."]
    assert NUMBER.rationale_steps("a = 1\nb = 2") == ["a = 1", "b = 2"]


# --- presets on the small copies -------------------------------------------------------------------------------

def test_gsm8k_preset():
    rows = read_dataset(FIXTURES / "gsm8k_test.jsonl", preset="gsm8k", split="test")
    assert len(rows) == 3 and rows[0].answer == "18" and rows[0].id == "gsm8k_test-1"
    assert NUMBER.rationale_steps(rows[0].rationale) == ["Janet sells 16 - 3 - 4 = 9 duck eggs a day.",
                                                         "She makes 9 * 2 = $18 every day at the farmer\u2019s market."]


def test_svamp_preset_joins_body_and_question_and_keeps_the_equation():
    rows = read_dataset(FIXTURES / "SVAMP.json", preset="svamp", split="pool")
    assert [r.id for r in rows] == ["chal-1", "chal-2", "chal-3"] and rows[0].answer == "51"
    assert rows[0].question == ("Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each "
                                "pack, how much do you have to pay to buy each pack?")
    assert rows[2].question.startswith("Paco had 26 salty cookies") and rows[2].question.endswith("left?")
    assert rows[0].rationale == "76 - 25 = 51"


def test_aqua_preset_reads_json_lines_named_json_with_options_and_letters():
    rows = read_dataset(FIXTURES / "aqua_dev.json", preset="aqua", split="pool")
    assert len(rows) == 3 and rows[0].answer == "A" and rows[1].answer == "D"
    assert rows[0].choices == ["32400", "6000", "600", "60000", "10"]
    assert rows[1].choices == ["100 m", "150 m", "200 m", "250 m", "300 m"]
    steps = CHOICE.rationale_steps(rows[0].rationale)
    assert steps[-1] == "Speed in miles/minutes = 60 * 540 = 32400"  # "Correct answer - A" is not a step
    assert "Answer choices: (A) 32400  (B) 6000" in CHOICE.student_text(rows[0])


def test_strategyqa_preset_maps_booleans_to_yes_no_and_facts_to_steps():
    rows = read_dataset(FIXTURES / "strategyqa_dev.json", preset="strategyqa", split="test")
    assert rows[0].id == "e0044a7b4d146d611e73" and rows[0].answer == "no" and rows[0].choices == ["yes", "no"]
    assert rows[0].rationale.split("\n") == ["Albany, GA has around 75,000 people",
                                             "Albany, NY has almost 100,000 people"]


@pytest.mark.parametrize("preset, name, first", [
    ("commonsenseqa", "commonsenseqa_dev_rand_split.jsonl",
     ("1afa02df02c908a558b4036e80242fac", "A", ["bank", "library", "department store", "mall", "new york"])),
    ("multiarith", "MultiArith.json", ("0", "39", None)),
    ("addsub", "AddSub.json", ("1", "26", None)),
    ("singleeq", "SingleEq_questions.json", ("595833", "43", None)),
    ("esnli", "esnli_dev.csv", ("4705552913.jpg#2r1n", "neutral", ["entailment", "neutral", "contradiction"])),
    ("anli", "anli_dev.jsonl", ("7ff2c6f9-1cd1-4e2d-a2d4-d33d0f5f9b2e", "neutral",
                                ["entailment", "neutral", "contradiction"])),
])
def test_presets_of_the_other_public_layouts(preset, name, first):
    rows = read_dataset(FIXTURES / name, preset=preset, split="pool")
    assert len(rows) == 2 and (rows[0].id, rows[0].answer, rows[0].choices) == first
    task = task_for(PRESETS[preset].answer_type)
    assert all(task.gold_problem(r.answer, r.choices) is None for r in rows)


def test_mawps_equations_become_one_step_each():
    assert read_dataset(FIXTURES / "MultiArith.json", preset="multiarith", split="pool")[0].rationale == \
        "(32+42)-35 = 39"


def test_nli_presets_put_premise_and_hypothesis_in_the_question():
    row = read_dataset(FIXTURES / "anli_dev.jsonl", preset="anli", split="pool")[1]
    assert row.question.startswith("Premise: Alexandra Lendon Bastedo") and "\nHypothesis: Sharron" in row.question
    assert row.answer == "contradiction"


def test_a_preset_takes_mapping_flags_on_top(tmp_path):
    path = put(tmp_path, "dup.jsonl", '{"qid": "a", "question": "q", "answer": "x #### 1"}\n'
                                      '{"qid": "a", "question": "q", "answer": "y #### 2"}\n')
    with pytest.raises(DatasetError, match="id 'a' is already used by row 1"):
        read_dataset(path, preset="gsm8k", mapping={"id": "qid"})  # the preset used to ignore the id column
    ok = put(tmp_path, "ok.jsonl", '{"qid": "a", "question": "q", "answer": "x #### 1"}\n')
    assert read_dataset(ok, preset="gsm8k", mapping={"id": "qid"}, split="pool")[0].id == "a"


def test_a_preset_refuses_an_answer_type_that_is_not_its_own():
    with pytest.raises(ConfigError, match="--preset gsm8k reads number answers; --answer-type choice"):
        read_dataset(FIXTURES / "gsm8k_test.jsonl", preset="gsm8k", answer_type="choice")


# --- the real files --------------------------------------------------------------------------------------------

@needs_shared
@pytest.mark.parametrize("preset, name, count, first", [
    ("gsm8k", "gsm8k/train.jsonl", 7473, ("train-1", "72")),
    ("gsm8k", "gsm8k/test.jsonl", 1319, ("test-1", "18")),
    ("svamp", "svamp/SVAMP.json", 1000, ("chal-1", "51")),
    ("aqua", "aqua/dev.json", 254, ("dev-1", "A")),
    ("aqua", "aqua/test.json", 254, ("test-1", "A")),
    ("strategyqa", "strategyqa/train.json", 2061, ("2bc9c4f9c19c167187f2", "yes")),
    ("strategyqa", "strategyqa/dev.json", 229, ("e0044a7b4d146d611e73", "no")),
])
def test_every_real_file_imports_whole(preset, name, count, first, tmp_path):
    rows = read_dataset(SHARED / name, preset=preset, split="pool")
    assert len(rows) == count and (rows[0].id, rows[0].answer) == first
    task = task_for(PRESETS[preset].answer_type)
    assert all(task.gold_problem(r.answer, r.choices) is None and r.rationale for r in rows)
    assert all(task.rationale_steps(r.rationale) for r in rows)


@needs_shared
def test_exact_rows_of_the_real_files():
    svamp = {r.id: r for r in read_dataset(SHARED / "svamp/SVAMP.json", preset="svamp", split="pool")}
    assert svamp["chal-2"].question == ("Dan had $ 3 left with him after he bought a candy bar. If he had $ 4 at the "
                                        "start, how much did the candy bar cost?")
    assert svamp["chal-2"].answer == "1" and svamp["chal-2"].rationale == "4 - 3 = 1"
    aqua = read_dataset(SHARED / "aqua/test.json", preset="aqua", split="test")
    assert aqua[0].choices == ["5(\u221a3 + 1)", "6(\u221a3 + \u221a2)", "7(\u221a3 \u2013 1)", "8(\u221a3 \u2013 2)",
                               "None of these"]
    answers = [json.loads(line)["correct"] for line in (SHARED / "aqua/test.json").read_text().splitlines()]
    assert [r.answer for r in aqua] == answers
    sqa = read_dataset(SHARED / "strategyqa/train.json", preset="strategyqa", split="pool")
    raw = json.loads((SHARED / "strategyqa/train.json").read_text())
    assert [r.answer for r in sqa] == ["yes" if r["answer"] else "no" for r in raw]
    assert sqa[0].rationale.split("\n") == raw[0]["facts"]
    gsm = read_dataset(SHARED / "gsm8k/test.jsonl", preset="gsm8k", split="test")
    assert gsm[1318].answer == json.loads((SHARED / "gsm8k/test.jsonl").read_text().splitlines()[-1])[
        "answer"].rsplit("####", 1)[1].strip().replace(",", "")


# --- mapping ---------------------------------------------------------------------------------------------------

def test_template_dotted_paths_list_indexes_and_label_map(tmp_path):
    path = put(tmp_path, "n.json", json.dumps({"data": [
        {"q": {"stem": "Is 2 even?", "ctx": "Numbers."}, "sol": [True], "steps": ["2 = 2 * 1", "so even"]},
        {"q": {"stem": "Is 3 even?", "ctx": "Numbers."}, "sol": [False], "steps": []}]}))
    rows = read_dataset(path, ColumnMapping(question="{q.ctx} {q.stem}", answer="sol[0]", rationale="steps",
                                            label_map={"true": "yes", "false": "no"}, records="data"),
                        answer_type="label", split="pool")
    assert [(r.question, r.answer, r.rationale) for r in rows] == [
        ("Numbers. Is 2 even?", "yes", "2 = 2 * 1\nso even"), ("Numbers. Is 3 even?", "no", None)]


def test_choices_from_label_text_objects_and_lettered_strings(tmp_path):
    path = put(tmp_path, "c.jsonl", json.dumps({"question": "Which?", "key": "2", "opts": [
        {"label": "1", "text": "red"}, {"label": "2", "text": "blue"}]}) + "\n" +
        json.dumps({"question": "Which?", "key": "B", "opts": ["A) red", "B) blue"]}) + "\n")
    rows = read_dataset(path, ColumnMapping(answer="key", choices="opts"), answer_type="choice", split="pool")
    assert [(r.answer, r.choices) for r in rows] == [("B", ["red", "blue"]), ("B", ["red", "blue"])]


def test_pool_rows_without_gold_are_accepted_when_asked(tmp_path):
    path = put(tmp_path, "g.jsonl", '{"question": "q1", "answer": "1"}\n{"question": "q2"}\n'
                                    '{"question": "q3", "answer": ""}\n{"question": "q4", "answer": "4"}\n')
    with pytest.raises(DatasetError, match="--allow-no-gold"):
        read_dataset(path)
    rows = read_dataset(path, ColumnMapping(gold_optional=True), split="auto", test_fraction=0.5)
    assert [r.split for r in rows if not r.answer] == ["pool", "pool"]  # only rows with gold can be test rows
    assert sorted(r.split for r in rows if r.answer) == ["pool", "test"]
    with pytest.raises(DatasetError, match="a test row needs a gold answer"):
        read_dataset(path, ColumnMapping(gold_optional=True), split="test")


def test_format_is_forced_whatever_the_extension(tmp_path):
    path = put(tmp_path, "rows.txt", '{"question": "q", "answer": "1"}\n')
    with pytest.raises(DatasetError, match="unsupported file type"):
        read_dataset(path)
    assert read_dataset(path, file_format="jsonl", split="pool")[0].answer == "1"


def test_json_lines_in_a_json_file_is_read_as_json_lines(tmp_path):
    path = put(tmp_path, "rows.json", '{"question": "q", "answer": "1"}\n{"question": "r", "answer": "2"}\n')
    assert [r.answer for r in read_dataset(path, split="pool")] == ["1", "2"]


def test_a_wrapped_json_file_names_its_records_path(tmp_path):
    path = put(tmp_path, "w.json", json.dumps({"version": 1, "data": [{"question": "q", "answer": "1"}]}))
    with pytest.raises(DatasetError, match="read it with --records data"):
        read_dataset(path)


def test_parquet_decimal_answers_are_read(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"question": ["q1", "q2"], "answer": pa.array(
        [decimal.Decimal("12.50"), decimal.Decimal("3")], pa.decimal128(5, 2))}), path)
    assert [r.answer for r in read_dataset(path, split="pool")] == ["12.5", "3"]


# --- import correctness ----------------------------------------------------------------------------------------

def test_an_existing_projects_answer_type_and_layout_are_checked(tmp_path):
    store = Store(tmp_path / "ws")
    import_file(store, "g", FIXTURES / "gsm8k_test.jsonl", preset="gsm8k", split="test")
    assert store.projects.config(store.projects.id_of("g")).task.dataset == "gsm8k"
    with pytest.raises(ConfigError, match="project 'g' compares answers as number, but this file is read as choice"):
        import_file(store, "g", FIXTURES / "aqua_dev.json", preset="aqua")
    with pytest.raises(ConfigError, match="compares answers as number"):  # used to be ignored silently
        import_file(store, "g", FIXTURES / "aqua_dev.json", answer_type="choice")
    with pytest.raises(ConfigError, match="holds rows read with the preset gsm8k; this file is read with the preset "
                                          "svamp"):
        import_file(store, "g", FIXTURES / "SVAMP.json", preset="svamp")
    assert store.examples.counts(store.projects.id_of("g")) == {"test": 3}


def test_a_refused_import_leaves_no_workspace_behind(tmp_path):
    import subprocess
    import sys
    ws = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-m", "elad_engine", "import", "--workspace", str(ws), "--project", "p",
                          str(REPO / "tests/data/bad/word_answer.jsonl")], capture_output=True, text=True, cwd=REPO)
    assert out.returncode != 0 and "'twelve' is not a valid number" in out.stderr
    assert not ws.exists()


def test_cli_imports_a_preset_with_flags_on_top(tmp_path):
    import subprocess
    import sys
    ws = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-m", "elad_engine", "import", "--workspace", str(ws), "--project", "s",
                          "--preset", "strategyqa", "--split", "pool", str(FIXTURES / "strategyqa_dev.json")],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "imported 3 rows into 's' (pool: 3)" in out.stdout
    store = Store(ws)
    cfg = store.projects.config(store.projects.id_of("s"))
    assert (cfg.task.answer_type, cfg.task.dataset) == ("label", "strategyqa")


def test_import_into_a_project_made_by_init_records_the_layout(tmp_path):
    store = Store(tmp_path / "ws")
    pid = store.projects.create("c", ProjectConfig().with_overrides(**{"task.answer_type": "choice"}))
    import_file(store, "c", FIXTURES / "aqua_dev.json", preset="aqua", split="pool")
    assert store.projects.config(pid).task.dataset == "aqua"


# --- rounds on AQuA and StrategyQA -----------------------------------------------------------------------------

def _aqua_file(tmp_path: Path, name: str, n: int) -> Path:
    lines = (FIXTURES / "aqua_dev.json").read_text().splitlines()
    return put(tmp_path, f"{name}.json", "\n".join(lines[i % len(lines)] for i in range(n)) + "\n")


def _strategyqa_file(tmp_path: Path, name: str, n: int) -> Path:
    rows = json.loads((FIXTURES / "strategyqa_dev.json").read_text())
    return put(tmp_path, f"{name}.json", json.dumps([{**rows[i % len(rows)], "qid": f"{name}{i}"} for i in range(n)]))


@pytest.mark.parametrize("preset", ["aqua", "strategyqa"])
def test_a_round_runs_on_a_choice_and_a_label_task_and_shows_the_choices(preset, tiny_model_dir, tmp_path,
                                                                        monkeypatch):
    from elad_engine.export import export_round
    from elad_engine.review.sample_view import sample
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.student.model import Student

    prompts: list[str] = []
    real_generate = Student.generate

    def recording_generate(self, batch, **kw):  # the real generate, with the prompts kept for the check below
        prompts.extend(batch)
        return real_generate(self, batch, **kw)

    monkeypatch.setattr(Student, "generate", recording_generate)
    store = Store(tmp_path / "ws")
    make = _aqua_file if preset == "aqua" else _strategyqa_file
    cfg = ProjectConfig().with_overrides(**{
        "student.path": str(tiny_model_dir), "student.max_new_tokens": 16, "student.probe_max_tokens": 3,
        "uncertainty.samples": 2, "rounds.warmup": 4, "rounds.rounds": 1, "selection.round_budget": 4,
        "training.epochs": 1, "training.batch_size": 4, "review.policy": "auto-approve",
        # plumbing at toy scale: a tiny random model whose tokenizer cannot read the dataset, overridden on purpose
        "teacher.kind": "reference", "rounds.allow_misfit": "unreadable-text"})
    pid, _ = import_file(store, "t", make(tmp_path, "train", 14), preset=preset, split="pool", config=cfg)
    import_file(store, "t", make(tmp_path, "test", 6), preset=preset, split="test")
    outcome = RoundRunner(store, pid).run()
    assert (outcome.stop_reason, outcome.rounds_done) == ("completed", 2), outcome.message
    shown = "Answer choices: (A) 32400" if preset == "aqua" else "Answer with one of: yes, no."
    assert prompts and all(("Answer choices: (A)" if preset == "aqua" else shown) in p for p in prompts)
    revisions = store.revisions.list(pid, 1)
    assert len(revisions) == 4 and all(r["status"] != "teacher_failed" for r in revisions)
    # the reference teacher checks AQuA's steps against the rationale's values, StrategyQA's answer against the label
    assert {r["mode"] for r in revisions} == {"revision"}
    view = sample(store, revisions[0]["id"])
    assert ("Answer choices: (A)" if preset == "aqua" else shown) in view.question
    out = export_round(store, pid, merged=False)
    records = [json.loads(line) for line in Path(out["dataset"]).read_text().splitlines()]
    assert records and all(("Answer choices: (A)" if preset == "aqua" else shown) in r["prompt"] for r in records)


@pytest.mark.parametrize("name, preset", [("gsm8k_test.jsonl", "gsm8k"), ("SVAMP.json", "svamp"),
                                          ("aqua_dev.json", "aqua"), ("strategyqa_dev.json", "strategyqa"),
                                          ("MultiArith.json", "multiarith")])
def test_a_public_file_read_without_its_preset_names_the_preset(name, preset):
    with pytest.raises(DatasetError) as err:
        read_dataset(FIXTURES / name)
    assert f"fix: this looks like {preset}'s published layout: read it with --preset {preset}" in str(err.value)
