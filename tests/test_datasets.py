"""Dataset import: every format, the gsm8k and synthetic presets, splits, and each way a file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from elad_engine.errors import ConfigError, DatasetError
from elad_engine.tasks.datasets import PRESETS, ColumnMapping, read_dataset, write_jsonl
from elad_engine.tasks.synthetic import default_dataset

GSM8K = Path(__file__).resolve().parents[2] / "shared/datasets/gsm8k"


def put(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def jsonl(rows: list) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def refused(path: Path, **kwargs) -> DatasetError:
    """The DatasetError for `path`, after checking that its message names the file."""
    with pytest.raises(DatasetError) as info:
        read_dataset(path, **kwargs)
    assert str(path) in str(info.value)
    assert str(info.value).splitlines()[0].startswith(f"refused {path}: ")
    return info.value


# --- formats --------------------------------------------------------------------------------------------


def test_jsonl_parses_numbers_and_ids(tmp_path):
    path = put(tmp_path, "data.jsonl", '{"id": 7, "question": " What is 2+2? ", "answer": 4}\n\n'
               '{"id": "b", "question": "Half of 5?", "answer": 2.5}\n'
               '{"id": "c", "question": "Dozen and a half?", "answer": 18.0}\n')
    rows = read_dataset(path, ColumnMapping(id="id"), split="pool")
    assert [e.id for e in rows] == ["7", "b", "c"]
    assert [e.question for e in rows] == ["What is 2+2?", "Half of 5?", "Dozen and a half?"]
    assert [e.answer for e in rows] == ["4", "2.5", "18"]
    assert [e.split for e in rows] == ["pool", "pool", "pool"]
    # Without an id column the id is the stem and the line number (blank lines still count).
    assert [e.id for e in read_dataset(path)] == ["data-1", "data-3", "data-4"]


def test_ndjson_extension_is_jsonl(tmp_path):
    path = put(tmp_path, "d.ndjson", jsonl([{"question": "q", "answer": "1"}]))
    assert [(e.id, e.answer) for e in read_dataset(path)] == [("d-1", "1")]


def test_csv_parses_choices_difficulty_and_multiline_cells(tmp_path):
    path = put(tmp_path, "quiz.csv", 'question,answer,choices,rationale,difficulty\r\n'
               '"Which is red?\r\nPick one.",A,"[""apple"", ""sky""]",Apples are red.,2\r\n'
               'Which is blue?,B,"[""apple"", ""sky""]",,\r\n')
    mapping = ColumnMapping(choices="choices", rationale="rationale", difficulty="difficulty")
    rows = read_dataset(path, mapping, answer_type="choice", split="pool")
    assert len(rows) == 2
    # Rows are numbered by the line they start on; the header is row 1.
    assert [e.id for e in rows] == ["quiz-2", "quiz-4"]
    assert rows[0].question == "Which is red?\r\nPick one."
    assert rows[0].choices == ["apple", "sky"]
    assert (rows[0].rationale, rows[0].difficulty, rows[0].answer) == ("Apples are red.", 2, "A")
    assert (rows[1].rationale, rows[1].difficulty, rows[1].answer) == (None, None, "B")


def test_parquet_parses(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"q": ["Two and one?", "Double two?"], "gold": [3, 4],
                             "opts": [["3", "4"], None]}), path)
    rows = read_dataset(path, ColumnMapping(question="q", answer="gold", choices="opts"), split="test")
    assert [(e.id, e.question, e.answer, e.choices, e.split) for e in rows] == [
        ("t-1", "Two and one?", "3", ["3", "4"], "test"), ("t-2", "Double two?", "4", None, "test")]


def test_json_array_parses(tmp_path):
    path = put(tmp_path, "arr.json", json.dumps([{"question": "One?", "answer": "1", "choices": ["1", 2]},
                                                 {"question": "Two?", "answer": "$2,000"}]))
    rows = read_dataset(path, ColumnMapping(choices="choices"), split="pool")
    assert [(e.id, e.answer, e.choices) for e in rows] == [("arr-1", "1", ["1", "2"]), ("arr-2", "$2,000", None)]


def test_utf8_bom_is_accepted(tmp_path):
    bom = b"\xef\xbb\xbf"
    csv_path = put(tmp_path, "b.csv", bom + "question,answer\ncafé?,5\n".encode())
    jsonl_path = put(tmp_path, "b.jsonl", bom + b'{"question": "q", "answer": "6"}\r\n'
                                                b'{"question": "r", "answer": 7}\r\n')
    assert [(e.question, e.answer) for e in read_dataset(csv_path)] == [("café?", "5")]
    assert [e.answer for e in read_dataset(jsonl_path)] == ["6", "7"]


def test_unknown_extension_lists_supported_ones(tmp_path):
    err = refused(put(tmp_path, "data.txt", "question,answer\nq,1\n"))
    assert "unsupported file type '.txt'" in str(err)
    assert ".jsonl, .ndjson, .csv, .parquet, .json" in str(err)


# --- presets --------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (GSM8K / "test.jsonl").exists(), reason=f"GSM8K test split not found at {GSM8K}")
def test_gsm8k_preset_on_the_real_test_split():
    rows = read_dataset(GSM8K / "test.jsonl", preset="gsm8k")
    assert len(rows) == 1319
    assert rows[0].id == "test-1"
    assert rows[0].answer == "18"
    assert rows[0].rationale == ("Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n"
                                 "She makes 9 * 2 = $18 every day at the farmer\u2019s market.")
    assert not any("<<" in e.rationale or "####" in e.rationale for e in rows)
    assert len({e.id for e in rows}) == 1319
    assert sum(e.split == "test" for e in rows) == 264  # round(1319 * 0.2)


def test_gsm8k_preset_strips_marks_and_commas(tmp_path):
    path = put(tmp_path, "g.jsonl", jsonl([
        {"question": "How many eggs?", "answer": "She has 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n#### 1,000"}]))
    [row] = read_dataset(path, preset="gsm8k")
    assert (row.answer, row.rationale) == ("1000", "She has 16 - 3 - 4 = 9 eggs.")
    assert PRESETS["gsm8k"].answer_type == "number"


def test_gsm8k_row_without_marker_is_refused(tmp_path):
    path = put(tmp_path, "g.jsonl", jsonl([{"question": "q", "answer": "x\n#### 3"},
                                           {"question": "q", "answer": "no final answer"}]))
    err = refused(path, preset="gsm8k")
    assert err.problems == ["row 2, column 'answer': has no '####' before the final answer; "
                            "GSM8K answers end with '#### <number>'"]


def test_synthetic_round_trip(tmp_path):
    data = default_dataset(pool=6, test=4, seed=5)
    path = tmp_path / "out" / "synthetic.jsonl"
    write_jsonl(path, data)
    back = read_dataset(path, preset="synthetic")
    assert back == data
    assert [e.split for e in back] == ["pool"] * 6 + ["test"] * 4
    assert isinstance(back[0].meta, dict) and isinstance(back[0].difficulty, int)


# --- splits ---------------------------------------------------------------------------------------------


def test_seeded_split_is_deterministic_and_sized(tmp_path):
    path = put(tmp_path, "n.jsonl", jsonl([{"question": f"q{i}", "answer": str(i)} for i in range(100)]))

    def tests(**kw) -> list[str]:
        return [e.id for e in read_dataset(path, **kw) if e.split == "test"]

    first = tests(seed=3)
    assert len(first) == 20
    assert tests(seed=3) == first
    assert tests(seed=4) != first
    assert len(tests(seed=3, test_fraction=0.5)) == 50
    assert tests(test_fraction=0.0) == []


def test_split_column_is_honoured(tmp_path):
    path = put(tmp_path, "s.csv", "question,answer,part\nq,1,train\nq,2,test\nq,3,validation\nq,4,dev\n"
                                  "q,5,pool\nq,6, TEST \n")
    rows = read_dataset(path, ColumnMapping(split="part"))
    assert [e.split for e in rows] == ["pool", "test", "test", "test", "pool", "test"]
    assert {e.split for e in read_dataset(path, ColumnMapping(split="part"), split="pool")} == {"pool"}


def test_unknown_split_value_is_refused(tmp_path):
    path = put(tmp_path, "s.csv", "question,answer,part\nq,1,train\nq,2,holdout\nq,3,\n")
    err = refused(path, mapping=ColumnMapping(split="part"))
    # One line for the kind of problem, with the other rows like it.
    assert err.problems[0].startswith("row 3, column 'part': split 'holdout' is not one of pool, train, training, test")
    assert err.problems[0].endswith("[and 1 more row like it: 4]") and len(err.problems) == 1


@pytest.mark.parametrize("kwargs", [{"test_fraction": 1.0}, {"test_fraction": -0.1}, {"split": "train"},
                                    {"preset": "squad"}, {"answer_type": "integer"}, {"max_field_chars": 0},
                                    {"preset": "gsm8k", "answer_type": "choice"}, {"file_format": "xml"}])
def test_bad_arguments_raise_config_error(tmp_path, kwargs):
    path = put(tmp_path, "ok.jsonl", jsonl([{"question": "q", "answer": "1"}]))
    with pytest.raises(ConfigError):
        read_dataset(path, **kwargs)


# --- refusals -------------------------------------------------------------------------------------------


def test_parquet_nan_and_null_gold(tmp_path):
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"question": ["a", "b", "c"], "answer": [1.0, float("nan"), None]}), path)
    err = refused(path)
    assert [p.split(":")[0] for p in err.problems] == ["row 2, column 'answer'", "row 3, column 'answer'"]
    assert "gold answer 'nan' is not a valid number" in err.problems[0]


def test_missing_file(tmp_path):
    err = refused(tmp_path / "nope.jsonl")
    assert "file not found" in str(err)


@pytest.mark.parametrize("name, content", [("e.jsonl", b""), ("e.jsonl", b"\n  \n"), ("e.csv", b"question,answer\n"),
                                           ("e.json", b"[]"), ("e.csv", b"")])
def test_empty_file(tmp_path, name, content):
    err = refused(put(tmp_path, name, content))
    assert "1 problem" in str(err)
    assert "add at least one" in str(err)


def test_empty_parquet_and_unreadable_parquet(tmp_path):
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.table({"question": pa.array([], pa.string()), "answer": pa.array([], pa.string())}), empty)
    assert "no data rows" in str(refused(empty))
    assert "not a readable Parquet file" in str(refused(put(tmp_path, "junk.parquet", b"not parquet")))


def test_invalid_utf8_names_row_and_byte_offset(tmp_path):
    path = put(tmp_path, "u.jsonl", b'{"question":"q","answer":"1"}\n{"question":"ok","answer":"2"}\n'
                                    b'{"question":"caf\xff","answer":"3"}\n')
    err = refused(path)
    assert err.problems == ["row 3: invalid UTF-8 at byte offset 77 (byte 0xff); re-save the file with UTF-8 encoding"]


def test_missing_column_lists_existing_columns(tmp_path):
    err = refused(put(tmp_path, "m.csv", "prompt,answer\nq,1\n"))
    assert "row 1, column 'question': the question column 'question' is not in the file" in str(err)
    assert "its columns are: answer, prompt" in str(err)
    err = refused(put(tmp_path, "m.jsonl", jsonl([{"question": "q", "answer": "1"}, {"question": "q"}])))
    assert err.problems == ["row 2, column 'answer': missing from this row; every row needs this field"]


def test_empty_and_non_string_questions(tmp_path):
    path = put(tmp_path, "q.jsonl", jsonl([{"question": {"text": "nested"}, "answer": "1"},
                                           {"question": "   ", "answer": "2"}, {"question": 12, "answer": "3"}]))
    err = refused(path)
    assert err.problems == [
        "row 1, column 'question': holds an object, not text; the question must be a string",
        "row 2, column 'question': the question is empty; every row needs a question",
        "row 3, column 'question': holds a number, not text; the question must be a string"]


def test_invalid_gold_answers(tmp_path):
    path = put(tmp_path, "g.jsonl", '{"question": "q", "answer": "abc"}\n{"question": "q", "answer": NaN}\n'
                                    '{"question": "q", "answer": null}\n{"question": "q", "answer": "7"}\n'
                                    '{"question": "q", "answer": "12 apples"}\n')
    err = refused(path)
    assert str(err).splitlines()[0] == f"refused {path}: 4 problems of 2 kinds"
    hint = "; write a plain number such as 42, 3.5 or 1,200"
    assert err.problems == ["row 1, column 'answer': gold answer 'abc' is not a valid number" + hint
                            + " [and 2 more rows like it: 2, 5]",
                            "row 3, column 'answer': gold answer is empty" + hint
                            + " (or import pool rows without one with --allow-no-gold)"]
    choice = put(tmp_path, "c.csv", "question,answer,choices\nq,B,\"[\"\"x\"\", \"\"y\"\"]\"\nq,42,\"[\"\"x\"\"]\"\n")
    err = refused(choice, answer_type="choice", mapping=ColumnMapping(choices="choices"))
    assert err.problems == ["row 3, column 'answer': gold answer '42' is not one of this row's 1 choices (A)"]


def test_duplicate_id_names_both_rows(tmp_path):
    path = put(tmp_path, "d.csv", "id,question,answer\na,q,1\nb,q,2\na,q,3\n")
    err = refused(path, mapping=ColumnMapping(id="id"))
    assert err.problems == ["row 4, column 'id': id 'a' is already used by row 2; ids must be unique"]


def test_field_too_long(tmp_path):
    path = put(tmp_path, "long.jsonl", jsonl([{"question": "short", "answer": "1"},
                                              {"question": "x" * 51, "answer": "2"}]))
    err = refused(path, max_field_chars=50)
    assert err.problems == ["row 2, column 'question': 51 characters, over the 50 limit; "
                            "shorten it or raise max_field_chars"]


def test_jsonl_bad_lines(tmp_path):
    path = put(tmp_path, "j.jsonl", '{"question": "q", "answer": "1"}\n{"question": "q", \n[1, 2]\n"text"\n')
    err = refused(path)
    assert [p.split(":")[0] for p in err.problems] == ["row 2", "row 3", "row 4"]
    assert "row 2: not valid JSON" in err.problems[0]
    assert err.problems[1].startswith("row 3: holds a JSON array, not an object")
    assert err.problems[2].startswith("row 4: holds a JSON string, not an object")


def test_json_not_an_array_of_objects(tmp_path):
    err = refused(put(tmp_path, "o.json", '{"question": "q", "answer": "1"}'))
    assert "holds a JSON object, not an array of objects" in str(err)
    err = refused(put(tmp_path, "a.json", '[{"question": "q", "answer": "1"}, "q2", {"answer": "x", "question": "q"}]'))
    assert err.problems[0].startswith("row 2: array element is a JSON string, not an object")
    assert err.problems[1].startswith("row 3, column 'answer': gold answer 'x'")
    assert "line 2: not valid JSON" in str(refused(put(tmp_path, "s.json", '[\n{"question": }]')))


def test_ragged_csv_rows(tmp_path):
    path = put(tmp_path, "r.csv", "question,answer\nq,1\nWhat is 1,000 + 1?,1001\nq\n")
    err = refused(path)
    assert err.problems == [
        "row 3: has 3 fields but the header has 2; quote fields that contain commas and give every row one value "
        "per column",
        "row 4: has 1 field but the header has 2; quote fields that contain commas and give every row one value "
        "per column"]


def test_problems_are_collected_sorted_and_capped(tmp_path):
    rows = ['{"question": "", "answer": "1"}'] * 24 + ["not json"]
    err = refused(put(tmp_path, "many.jsonl", "\n".join(reversed(rows)) + "\n"))
    lines = str(err).splitlines()
    assert lines[0] == f"refused {tmp_path / 'many.jsonl'}: 25 problems of 2 kinds"
    assert err.problems[0].startswith("row 1: not valid JSON")
    assert err.problems[1] == ("row 2, column 'question': the question is empty; every row needs a question "
                               "[and 23 more rows like it: 3, 4, 5, 6, 7 and 18 more]")
    assert len(err.problems) == 2 and len(lines) == 3


def test_only_the_first_kinds_of_problem_are_shown(tmp_path, monkeypatch):
    from elad_engine.tasks import files
    monkeypatch.setattr(files, "MAX_PROBLEMS", 1)
    err = refused(put(tmp_path, "two.jsonl", '{"question": "", "answer": "1"}\nnot json\n'))
    assert len(err.problems) == 1 and err.problems[0].startswith("row 1, column 'question'")
    assert str(err).splitlines()[-1] == "  ... and 1 more kinds not shown; fix these and read the file again"
