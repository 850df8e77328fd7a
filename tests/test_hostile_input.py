"""Hostile and broken input is refused with a message naming what, where and why, and changes nothing: the
corpus in tests/data/bad/, a 10 MB field, bad config TOML, a student that is not a model, an adapter for
another model, oversized uploads and names that try to leave their folder."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, build_tiny_model
from elad_engine.config import ProjectConfig
from elad_engine.errors import ConfigError, DatasetError, StoreError, StudentError
from elad_engine.projects import MAX_UPLOAD_BYTES, import_file, safe_upload_name, save_upload
from elad_engine.store import Store
from elad_engine.tasks.datasets import ColumnMapping

BAD = REPO / "tests" / "data" / "bad"

# file -> (the row named in the message, or None for a whole-file problem; words of the problem)
EXPECTED = {
    "answer_is_a_list.jsonl": ("row 2", "holds an array"),
    "binary.jsonl": ("row 1", "invalid UTF-8"),
    "bom_then_missing_column.jsonl": ("row 3", "missing from this row"),
    "broken_json_line.jsonl": ("row 3", "not valid JSON"),
    "duplicate_ids.jsonl": ("row 3", "duplicate"),
    "empty.jsonl": (None, "the file is empty"),
    "empty_question.jsonl": ("row 2", "the question is empty"),
    "header_only.csv": (None, "no data rows"),
    "infinite_answer.jsonl": ("row 2", "'inf' is not a valid number"),
    "latin1.csv": ("row 3", "invalid UTF-8"),
    "misnamed_columns.csv": ("row 1", "columns are: Prompt, Solution"),
    "missing_column.jsonl": ("row 2", "missing from this row"),
    "nan_gold.csv": ("row 3", "'nan' is not a valid number"),
    "nan_gold.jsonl": ("row 2", "'nan' is not a valid number"),
    "nested_question.jsonl": ("row 2", "holds an object"),
    "not_a_file_type.txt": (None, "unsupported file type"),
    "not_an_array.json": (None, "not an array of objects"),
    "nul_bytes.csv": ("row 3", "control character"),
    "null_answer.json": ("row 2", "gold answer is empty"),
    "parquet_without_answer.parquet": (None, "columns are: question, solution"),
    "ragged.csv": ("row 3", "has 4 fields but the header has 2"),
    "row_is_a_list.jsonl": ("row 2", "holds a JSON array"),
    "utf16.jsonl": ("row 1", "invalid UTF-8"),
    "word_answer.jsonl": ("row 2", "'twelve' is not a valid number"),
    # answers and layouts of the task kinds (elad_engine/tasks/)
    "choice_not_among_choices.jsonl": ("row 2", "'F' is not one of this row's 3 choices (A, B, C)"),
    "choice_without_choices.jsonl": ("row 1", "is a choice but this row has no choices; map the choices column "
                                              "[and 1 more row like it: 2]"),
    "underscore_number.csv": ("row 2", "'1_000' uses underscores between digits; write 1000"),
    "locale_comma.csv": ("row 2", "'4,2' has a comma that is not a thousands separator"),
    "nested_path_missing.jsonl": ("row 1", "the path 'question.stem' does not lead anywhere here"),
    "template_missing_column.csv": ("row 1", "the template's column 'Context' is not in the file"),
    "boolean_answers.json": ("row 1", "fix: every answer is a boolean: map it with --label-map true=yes,false=no"),
    "unclosed_quote.csv": ("row 2", "a quoted field starts on this row and is never closed"),
    "letters_as_numbers.csv": ("row 2", "fix: every answer is a letter A-E: use --answer-type choice"),
}
MAPPINGS = {"duplicate_ids.jsonl": {"mapping": ColumnMapping(id="id")},
            "choice_not_among_choices.jsonl": {"mapping": ColumnMapping(choices="choices"), "answer_type": "choice"},
            "choice_without_choices.jsonl": {"answer_type": "choice"},
            "nested_path_missing.jsonl": {"mapping": ColumnMapping(question="question.stem")},
            "template_missing_column.csv": {"mapping": ColumnMapping(question="{Body} {Question} {Context}",
                                                                     answer="Answer")}}


def test_the_corpus_is_complete():
    files = sorted(p.name for p in BAD.iterdir())
    assert files == sorted(EXPECTED) and len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_bad_file_is_refused_by_name_row_and_problem_and_imports_nothing(name, tmp_path):
    row, problem = EXPECTED[name]
    store = Store(tmp_path / "ws")
    keep = store.projects.create("keep", ProjectConfig())
    with pytest.raises(DatasetError) as err:
        import_file(store, "new", BAD / name, **MAPPINGS.get(name, {}))
    message = str(err.value)
    assert name in message and problem in message, message
    if row:
        assert row in message, message
    assert store.projects.find("new") is None  # a refused file does not create its project
    assert store.db["examples"].count == 0 and store.db["imports"].count == 0
    with pytest.raises((DatasetError, ConfigError)):  # into an existing project: still nothing
        import_file(store, "keep", BAD / name, **MAPPINGS.get(name, {}))
    assert store.examples.counts(keep) == {}


def test_a_ten_megabyte_field_is_refused(tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"question": "q1", "answer": "1"}) + "\n" +
                    json.dumps({"question": "x" * (10 * 1024 * 1024), "answer": "2"}) + "\n")
    store = Store(tmp_path / "ws")
    with pytest.raises(DatasetError, match=r"huge.jsonl(.|\n)*row 2, column 'question'(.|\n)*characters") as err:
        import_file(store, "p", path)
    assert len(str(err.value)) < 2000  # the message names the problem; it does not echo 10 MB
    assert store.projects.list() == []


def test_malformed_config_toml_names_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is not toml = =\n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML.*line 1"):
        ProjectConfig.load(bad)
    typed = tmp_path / "typed.toml"
    typed.write_text('[training]\nepochs = "many"\n')
    with pytest.raises(ConfigError, match=r"typed.toml: training.epochs = 'many' is invalid: expected int"):
        ProjectConfig.load(typed)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[training]\nepochz = 3\n")
    with pytest.raises(ConfigError, match="epochz"):
        ProjectConfig.load(unknown)


def test_a_student_path_that_is_not_a_model(tmp_path):
    from elad_engine.student.model import Student

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StudentError, match="is not a model folder: it has no config.json"):
        Student.load(str(tmp_path))
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(StudentError):
        Student.load(str(tmp_path))


def test_an_adapter_for_another_model_is_refused(tmp_path):
    from peft import LoraConfig, get_peft_model

    from elad_engine.student.model import Student

    small = build_tiny_model(tmp_path / "small", n_embd=32)
    other = build_tiny_model(tmp_path / "other", n_embd=64)
    model = get_peft_model(Student.load(str(other)).model, LoraConfig(r=4, target_modules=["c_attn"]))
    model.save_pretrained(tmp_path / "adapter")
    with pytest.raises(StudentError, match="adapter") as err:
        Student.load(str(small), adapter=str(tmp_path / "adapter"))
    assert "another base model" in str(err.value) and "size mismatch" in str(err.value)


def test_uploads_are_capped_and_names_cannot_climb(tmp_path):
    store = Store(tmp_path / "ws")
    for hostile in ["../../etc/passwd", "..\\..\\boot.ini", "/abs/path/data.jsonl", "a/../../b.csv", "....//x.json"]:
        saved = save_upload(store, hostile, b'{"question": "q", "answer": "1"}\n')
        assert saved.parent == (store.workspace / "uploads").resolve(), hostile
        assert ".." not in saved.name and "/" not in saved.name
    assert safe_upload_name("../../etc/passwd") == "passwd"
    with pytest.raises(StoreError, match="no usable characters"):
        safe_upload_name("../..")

    class Huge(bytes):  # claims to be larger than the cap without allocating 200 MB
        def __len__(self):
            return MAX_UPLOAD_BYTES + 1
    with pytest.raises(StoreError, match="over the limit of 210 MB"):
        save_upload(store, "big.jsonl", Huge(b"x"))


def test_project_names_and_export_folders_cannot_escape(tmp_path):
    from elad_engine.export import export_round

    store = Store(tmp_path / "ws")
    for name in ["../evil", "a/b", "", ".hidden", "x" * 65]:
        with pytest.raises(StoreError, match="is not allowed"):
            store.projects.create(name, ProjectConfig())
    pid = store.projects.create("p", ProjectConfig())
    victim = tmp_path / "documents"
    victim.mkdir()
    (victim / "thesis.txt").write_text("precious")
    store.training_runs.save(pid, 0, method="lora", samples=1, checkpoint=str(tmp_path))  # any existing folder
    with pytest.raises(StoreError, match="not an earlier ELAD export"):
        export_round(store, pid, 0, tmp_path / "ws" / ".." / "documents", merged=False)
    assert (victim / "thesis.txt").read_text() == "precious"
