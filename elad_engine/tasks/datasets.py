"""Task files (JSONL, CSV, Parquet, JSON) into `Example`s; a bad file is refused with all its problems listed.

Use `read_dataset(path, preset="gsm8k")` or `read_dataset(path, ColumnMapping(...))`; `write_jsonl` saves
examples that `read_dataset(path, preset="synthetic")` reads back.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..method.reasoning import ANSWER_TYPES, gold_is_valid
from ..method.records import Example
from .files import Problems, at, kind_of, load_rows

SPLIT_NAMES = {"pool": "pool", "train": "pool", "test": "test", "validation": "test", "dev": "test"}
_MISSING = object()


@dataclass
class ColumnMapping:
    """Which column of the file holds each Example field; None means the file has no such column."""

    question: str = "question"
    answer: str = "answer"  # the gold answer, kept as its stripped text
    choices: str | None = None  # a list of choices, or a JSON string of one (CSV cells)
    rationale: str | None = None  # the gold explanation
    id: str | None = None  # without it, ids are f"{file stem}-{row number}"
    split: str | None = None  # pool/train -> pool, test/validation/dev -> test (used when split="auto")
    difficulty: str | None = None  # an integer


@dataclass
class Preset:
    """A known file layout: its columns, its answer type and a rewrite applied to each row before validation."""

    mapping: ColumnMapping
    answer_type: str = "number"
    transform: Callable[[dict], dict] | None = None  # raises _Bad to refuse a row
    optional: frozenset[str] = frozenset()  # mapping fields whose column may be absent (value None)
    meta: str | None = None  # column holding a dict kept as Example.meta


class _Bad(Exception):
    def __init__(self, column: str | None, text: str):
        super().__init__(text)
        self.column, self.text = column, text


_CALC = re.compile(r"<<[^>]*>>")


def _gsm8k_row(row: dict) -> dict:
    # A missing column is reported once for the whole file later, not here for every row.
    if "answer" not in row:
        return row
    raw = row["answer"]
    if not isinstance(raw, str) or "####" not in raw:
        raise _Bad("answer", "has no '####' before the final answer; GSM8K answers end with '#### <number>'")
    before, _, after = raw.rpartition("####")
    return {**row, "answer": after.strip().replace(",", ""), "rationale": _CALC.sub("", before).strip() or None}


PRESETS: dict[str, Preset] = {
    "gsm8k": Preset(ColumnMapping(rationale="rationale"), "number", _gsm8k_row, frozenset({"rationale"})),
    "synthetic": Preset(
        ColumnMapping(id="id", rationale="rationale", split="split", difficulty="difficulty", choices="choices"),
        "number", None, frozenset({"id", "rationale", "split", "difficulty", "choices"}), meta="meta"),
}


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # NUL and friends: never in a real question


def _text(value: Any, numbers_ok: bool, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        bad = _CONTROL.search(value)
        if bad:
            raise _Bad(None, f"holds the control character {bad.group()!r} at position {bad.start() + 1}; "
                             f"{what} must be plain text (tabs and newlines are fine)")
        return value.strip() or None
    if numbers_ok and isinstance(value, (int, float)) and not isinstance(value, bool):
        # 18.0 from a JSON number is the integer 18; nan stays "nan" so that gold_is_valid refuses it by name.
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise _Bad(None, f"holds {kind_of(value)}, not text; {what} must be a string")


def _json_cell(value: Any, kind: type, example: str) -> Any:
    """A CSV cell holds a list or dict as JSON text; other formats hold it as is."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = _MISSING
    if value is not None and not isinstance(value, kind):
        raise _Bad(None, f"is not {kind_of(kind(), 'JSON ')}; write it like {example} or leave it empty")
    return value or None


def _choices(value: Any) -> list[str] | None:
    value = _json_cell(value, list, '["red", "blue"]')
    return None if value is None else [_text(c, True, "each choice") or "" for c in value]


def _difficulty(value: Any) -> int | None:
    if isinstance(value, str):
        value = value.strip() or None
        if value is not None and re.fullmatch(r"-?\d+", value):
            return int(value)
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Bad(None, f"difficulty {value!r} is not an integer; write a whole number or leave it empty")


def _row_example(n: int, row: dict, cols: dict[str, str | None], spec: Preset, max_chars: int, stem: str,
                 probs: Problems) -> tuple[Example, str | None] | None:
    """The row's Example and its raw split value, or None after recording the row's problems."""
    start = len(probs.found)

    def get(field: str, parse: Callable[[Any], Any]) -> tuple[Any, bool]:
        """(value, ok): ok is False once a problem was recorded, so no second one piles onto the same cell."""
        col = cols[field]
        value = _MISSING if col is None else row.get(col, _MISSING)
        if value is _MISSING:
            # JSON rows may leave out optional fields; a row without its question, answer or id is broken.
            if col is not None and field in ("question", "answer", "id") and field not in spec.optional:
                probs.add(at(n, col), "missing from this row; every row needs this field")
                return None, False
            return None, True
        too_long = [len(v) for v in (value if isinstance(value, list) else [value])
                    if isinstance(v, str) and len(v) > max_chars]
        if too_long:
            probs.add(at(n, col), f"{too_long[0]:,} characters, over the {max_chars:,} limit; shorten it or "
                      "raise max_field_chars")
            return None, False
        try:
            return parse(value), True
        except _Bad as b:
            probs.add(at(n, col), b.text)
            return None, False

    question, ok = get("question", lambda v: _text(v, False, "the question"))
    if ok and question is None:
        probs.add(at(n, cols["question"]), "the question is empty; every row needs a question")
    answer, ok = get("answer", lambda v: _text(v, True, "the gold answer"))
    if ok and (answer is None or not gold_is_valid(answer, spec.answer_type)):
        found = "is empty" if answer is None else f"{answer!r} is not a valid {spec.answer_type}"
        hint = "a plain number such as 42 or 3.5" if spec.answer_type == "number" else f"a {spec.answer_type}"
        probs.add(at(n, cols["answer"]), f"gold answer {found}; write {hint}")
    ex_id, ok = get("id", lambda v: _text(v, True, "the id"))
    if ok and ex_id is None and cols["id"] in row:
        probs.add(at(n, cols["id"]), "the id is empty; give every row an id or map no id column")
    rationale = get("rationale", lambda v: _text(v, False, "the rationale"))[0]
    choices = get("choices", _choices)[0]
    difficulty = get("difficulty", _difficulty)[0]
    split = get("split", lambda v: _text(v, True, "the split"))[0]
    meta = {}
    if spec.meta is not None:
        try:
            meta = _json_cell(row.get(spec.meta), dict, '{"key": 1}') or {}
        except _Bad as b:
            probs.add(at(n, spec.meta), b.text)
    if len(probs.found) > start:
        return None
    return Example(id=ex_id or f"{stem}-{n}", question=question, answer=answer, rationale=rationale,
                   choices=choices, difficulty=difficulty, meta=meta), split


def _spec(mapping: ColumnMapping | None, preset: str | None, answer_type: str, split: str, test_fraction: float,
          max_field_chars: int) -> Preset:
    """The file layout to read, after checking the arguments (ConfigError names a bad one)."""
    spec = Preset(mapping or ColumnMapping(), answer_type) if preset is None else PRESETS.get(preset)
    for failed, message in (
            (spec is None, f"unknown dataset preset {preset!r}; known presets: {', '.join(PRESETS)}"),
            (preset is not None and mapping is not None, "pass either a column mapping or a preset, not both"),
            (spec and spec.answer_type not in ANSWER_TYPES,
             f"answer_type {answer_type!r} is invalid; allowed: {', '.join(ANSWER_TYPES)}"),
            (split not in ("auto", "pool", "test"), f"split {split!r} is invalid; use 'auto', 'pool' or 'test'"),
            (not 0 <= test_fraction < 1, f"test_fraction {test_fraction!r} is out of range; it must be >= 0 and < 1"),
            (max_field_chars < 1, f"max_field_chars {max_field_chars!r} must be a positive number of characters")):
        if failed:
            raise ConfigError(message)
    return spec


def _mapped_columns(path: Path, rows: list[tuple[int, dict]], spec: Preset,
                    probs: Problems) -> tuple[list[tuple[int, dict]], dict[str, str | None]]:
    """The rows after the preset's rewrite, and each Example field's column (None: absent and optional)."""
    columns = set().union(*(r.keys() for _, r in rows))
    if spec.transform is not None:
        done = []
        for n, row in rows:
            try:
                done.append((n, spec.transform(row)))
            except _Bad as b:
                probs.add(at(n, b.column), b.text)
        rows = done
        columns |= set().union(*(r.keys() for _, r in rows))
    cols = asdict(spec.mapping)
    for f, col in cols.items():
        if col is not None and col not in columns and f in spec.optional:
            cols[f] = None
        elif col is not None and col not in columns:
            # Reported once for the file: repeating it on every row would push the other problems out.
            probs.add(at(1, col) if path.suffix.lower() == ".csv" else f"column '{col}'",
                      f"the {f} column '{col}' is not in the file; its columns are: "
                      f"{', '.join(sorted(columns)) or '(none)'}; rename the column or map {f}= to one of them")
    if any(col is not None and col not in columns for col in cols.values()):
        probs.check()
    return rows, cols


def _row_examples(path: Path, rows: list[tuple[int, dict]], cols: dict[str, str | None], spec: Preset, split: str,
                  max_field_chars: int, probs: Problems) -> list[Example]:
    """Every row's Example with its split (ids checked to be unique); problems are collected, not raised."""
    examples, seen = [], {}
    for n, row in rows:
        got = _row_example(n, row, cols, spec, max_field_chars, path.stem, probs)
        if got is None:
            continue
        ex, raw_split = got
        if ex.id in seen:
            probs.add(at(n, cols["id"]), f"id '{ex.id}' is already used by row {seen[ex.id]}; ids must be unique")
        seen.setdefault(ex.id, n)
        if split != "auto":
            ex.split = split
        elif cols["split"] is not None:
            ex.split = SPLIT_NAMES.get((raw_split or "").lower(), "")
            if not ex.split:
                probs.add(at(n, cols["split"]), f"split {raw_split or ''!r} is not one of {', '.join(SPLIT_NAMES)}; "
                          "fix the value or read the file with split='pool' or 'test'")
        examples.append(ex)
    return examples


def read_dataset(path: str | Path, mapping: ColumnMapping | None = None, preset: str | None = None,
                 answer_type: str = "number", split: str = "auto", test_fraction: float = 0.2, seed: int = 0,
                 max_field_chars: int = 100_000) -> list[Example]:
    """Every row of the file as an Example, or a DatasetError (with `.problems`) listing what is wrong.

    Rows are numbered as an editor shows them: by line for JSONL and CSV (the CSV header is row 1), by
    position for JSON arrays and Parquet. A preset fixes the columns and the answer type. `split`: "auto"
    uses the split column when mapped and present, else a seeded random `test_fraction` of the rows;
    "pool" or "test" puts every row there. Bad arguments raise ConfigError.
    """
    spec = _spec(mapping, preset, answer_type, split, test_fraction, max_field_chars)
    path = Path(path)
    probs = Problems(path)
    rows = load_rows(path, probs, max_field_chars)
    if not rows:
        probs.check()
    rows, cols = _mapped_columns(path, rows, spec, probs)
    examples = _row_examples(path, rows, cols, spec, split, max_field_chars, probs)
    probs.check()
    if split == "auto" and cols["split"] is None:
        # Row positions drawn by a private RNG: the same file and seed give the same split, whatever else ran.
        test = set(random.Random(seed).sample(range(len(examples)), round(len(examples) * test_fraction)))
        for i, ex in enumerate(examples):
            ex.split = "test" if i in test else "pool"
    return examples


def write_jsonl(path: str | Path, examples: list[Example]) -> None:
    """One Example per line with every field, readable back with `read_dataset(path, preset="synthetic")`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for ex in examples:
            f.write(json.dumps(asdict(ex), ensure_ascii=False) + "\n")
