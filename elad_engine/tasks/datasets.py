"""Task files (JSONL, CSV, Parquet, JSON) into `Example`s; a bad file is refused with all its problems, grouped.

Use `read_dataset(path, preset="gsm8k")` or `read_dataset(path, ColumnMapping(...))`; with a preset, a dict of
mapping fields (`{"id": "qid"}`) replaces the preset's choice for those fields. `write_jsonl` saves examples that
`read_dataset(path, preset="synthetic")` reads back.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DatasetError
from ..method.records import Example
from .choice import LETTERS
from .files import FORMATS, Problems, at, kind_of, load_rows
from .mapping import FIELDS, MISSING, ColumnMapping, lookup, render_template, top_column
from .presets import PRESETS, Preset, RowError, suggest_presets
from .registry import ANSWER_TYPES, task_for

SPLIT_NAMES = {"pool": "pool", "train": "pool", "training": "pool", "test": "test", "validation": "test",
               "val": "test", "valid": "test", "dev": "test"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # NUL and friends: never in a real question
_LETTERED = re.compile(r"^\s*\(?([A-Za-z])\s*[).:]\s*(.*)$", re.DOTALL)


def _text(value: Any, numbers_ok: bool, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        bad = _CONTROL.search(value)
        if bad:
            raise RowError(None, f"holds the control character {bad.group()!r} at position {bad.start() + 1}; "
                                 f"{what} must be plain text (tabs and newlines are fine)")
        return value.strip() or None
    if numbers_ok and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        # 18.0 from a JSON number is the integer 18; nan stays "nan" so that the task refuses it by name.
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return format(value.normalize(), "f") if isinstance(value, Decimal) and value.is_finite() else str(value)
    if isinstance(value, bool):
        raise RowError(None, f"holds a boolean ({str(value).lower()}), not text; {what} must be a string")
    raise RowError(None, f"holds {kind_of(value)}, not text; {what} must be a string")


def _json_cell(value: Any, kind: type, example: str) -> Any:
    """A CSV cell holds a list or dict as JSON text; other formats hold it as is."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = MISSING
    if value is not None and not isinstance(value, kind):
        raise RowError(None, f"is not {kind_of(kind(), 'JSON ')}; write it like {example} or leave it empty")
    return value or None


def _choices(value: Any) -> tuple[list[str], list[str] | None] | None:
    """(choice texts, their labels when given as {label, text} objects); letters such as "A)95" are taken off."""
    value = _json_cell(value, list, '["red", "blue"] or [{"label": "A", "text": "red"}, ...]')
    if value is None:
        return None
    if all(isinstance(c, dict) for c in value):
        bad = next((c for c in value if "text" not in c), None)
        if bad is not None:
            raise RowError(None, f"choice {bad!r} has no 'text'; write choices as {{\"label\": ..., \"text\": ...}}")
        return ([_text(c["text"], True, "each choice") or "" for c in value],
                [str(c.get("label", LETTERS[i])).strip() for i, c in enumerate(value)])
    texts = [_text(c, True, "each choice") or "" for c in value]
    matches = [_LETTERED.match(t) for t in texts]
    if texts and all(m and m.group(1).upper() == LETTERS[i] for i, m in enumerate(matches)):
        texts = [m.group(2).strip() for m in matches]  # "A) 95", "B) 150": the letters are the task's to add
    return texts, None


def _rationale(value: Any) -> str | None:
    if isinstance(value, list):  # a list of steps
        steps = [_text(s, True, "each rationale step") for s in value]
        return "\n".join(s for s in steps if s) or None
    return _text(value, False, "the rationale")


def _difficulty(value: Any) -> int | None:
    if isinstance(value, str):
        value = value.strip() or None
        if value is not None and re.fullmatch(r"-?\d+", value):
            return int(value)
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise RowError(None, f"difficulty {value!r} is not an integer; write a whole number or leave it empty")


def _mapped_answer(value: Any, label_map: dict[str, str]) -> Any:
    if not label_map or value is None or value is MISSING:
        return value
    key = str(value).lower() if isinstance(value, bool) else str(value).strip()
    if key in label_map:
        return label_map[key]
    lowered = {k.lower(): v for k, v in label_map.items()}
    return lowered.get(key.lower(), value)


@dataclasses.dataclass
class _Reader:
    """One file's reading: the resolved layout, the problems found, and the row currently read."""

    spec: Preset
    probs: Problems
    max_chars: int
    stem: str

    def value(self, n: int, row: dict, field: str, path: str | None, parse: Callable[[Any], Any]) -> tuple[Any, bool]:
        """(value, ok): ok is False once a problem was recorded, so no second one piles onto the same cell."""
        value = MISSING if path is None else lookup(row, path)
        if value is MISSING:
            # JSON rows may leave out optional fields; a row without its question, answer or id is broken.
            if path is not None and field in ("question", "answer", "id") and field not in self.spec.optional:
                if field == "answer" and self.spec.mapping.gold_optional:
                    return None, True
                nested = "" if top_column(path) == path else f" (the path '{path}' does not lead anywhere here)"
                self.probs.add(at(n, path), f"missing from this row{nested}; every row needs this field")
                return None, False
            return None, True
        too_long = [len(v) for v in (value if isinstance(value, list) else [value])
                    if isinstance(v, str) and len(v) > self.max_chars]
        if too_long:
            self.probs.add(at(n, path), f"{too_long[0]:,} characters, over the {self.max_chars:,} limit; shorten it "
                           "or raise max_field_chars")
            return None, False
        try:
            return parse(value), True
        except RowError as b:
            self.probs.add(at(n, b.column or path), b.text)
            return None, False

    def question(self, n: int, row: dict) -> tuple[str | None, bool]:
        template = self.spec.mapping.question
        if "{" not in template:
            return self.value(n, row, "question", template, lambda v: _text(v, False, "the question"))
        parts = {}
        for path in re.findall(r"\{([^{}]+)\}", template):
            part, ok = self.value(n, row, "question", path, lambda v: _text(v, True, "each templated column"))
            if not ok:
                return None, False
            parts[path] = part or ""
        return render_template(template, parts).strip() or None, True

    def example(self, n: int, row: dict) -> tuple[Example, str | None] | None:
        """The row's Example and its raw split value, or None after recording the row's problems."""
        m, task, start = self.spec.mapping, task_for(self.spec.answer_type), len(self.probs.found)
        question, ok = self.question(n, row)
        if ok and question is None:
            self.probs.add(at(n, m.question), "the question is empty; every row needs a question")
        got, _ = self.value(n, row, "choices", m.choices, _choices)
        choices, labels = got if got else (None, None)
        answer, ok = self.value(n, row, "answer", m.answer,
                                lambda v: _text(_mapped_answer(v, m.label_map), True, "the gold answer"))
        if ok and answer is not None and labels is not None and answer in labels:
            answer = LETTERS[labels.index(answer)]  # {label, text} choices: the answer names a label
        raw_split = self.value(n, row, "split", m.split, lambda v: _text(v, True, "the split"))[0]
        if ok and answer is None and not m.gold_optional:
            self.probs.add(at(n, m.answer), "gold answer is empty; write " + task.gold_hint
                           + " (or import pool rows without one with --allow-no-gold)")
        elif ok and answer is not None:
            problem = task.gold_problem(answer, choices)
            if problem:
                self.probs.add(at(n, m.answer), problem)
        ex_id, ok = self.value(n, row, "id", m.id, lambda v: _text(v, True, "the id"))
        if ok and ex_id is None and m.id is not None and lookup(row, m.id) is not MISSING:
            self.probs.add(at(n, m.id), "the id is empty; give every row an id or map no id column")
        rationale = self.value(n, row, "rationale", m.rationale, _rationale)[0]
        difficulty = self.value(n, row, "difficulty", m.difficulty, _difficulty)[0]
        meta = {}
        if self.spec.meta is not None:
            try:
                meta = _json_cell(row.get(self.spec.meta), dict, '{"key": 1}') or {}
            except RowError as b:
                self.probs.add(at(n, self.spec.meta), b.text)
        if len(self.probs.found) > start:
            return None
        return Example(id=ex_id or f"{self.stem}-{n}", question=question, answer=answer or "", rationale=rationale,
                       choices=choices, difficulty=difficulty, meta=meta), raw_split


def resolve_layout(mapping: ColumnMapping | dict | None = None, preset: str | None = None,
                   answer_type: str | None = None, file_format: str | None = None) -> Preset:
    """The layout a file is read with: a preset with any mapping fields given on top of it, or a mapping alone.
    ConfigError names a contradiction (a preset and an answer type that is not its own, an unknown preset)."""
    if preset is None:
        if isinstance(mapping, dict):
            mapping = ColumnMapping(**mapping)
        spec = Preset("custom", answer_type or "number", mapping or ColumnMapping())
    else:
        base = PRESETS.get(preset)
        if base is None:
            raise ConfigError(f"unknown dataset preset {preset!r}; known presets: {', '.join(PRESETS)}")
        if answer_type is not None and answer_type != base.answer_type:
            raise ConfigError(f"--preset {preset} reads {base.answer_type} answers; --answer-type {answer_type} "
                              f"contradicts it: leave --answer-type out, or read the file without the preset")
        if isinstance(mapping, ColumnMapping):  # the fields set away from the defaults are the ones given
            default = ColumnMapping()
            mapping = {f.name: getattr(mapping, f.name) for f in dataclasses.fields(mapping)
                       if getattr(mapping, f.name) != getattr(default, f.name)}
        over = dict(mapping or {})
        spec = dataclasses.replace(base, mapping=dataclasses.replace(base.mapping, **over),
                                   optional=base.optional - set(over))
    if spec.answer_type not in ANSWER_TYPES:
        raise ConfigError(f"answer_type {spec.answer_type!r} is invalid; allowed: {', '.join(ANSWER_TYPES)}")
    if file_format is not None:
        if file_format not in set(FORMATS.values()):
            known = ", ".join(sorted(set(FORMATS.values())))
            raise ConfigError(f"format {file_format!r} is unknown; use one of {known}")
        spec = dataclasses.replace(spec, format=file_format)
    return spec


def _transformed(rows: list[tuple[int, dict]], spec: Preset, probs: Problems) -> list[tuple[int, dict]]:
    if spec.transform is None:
        return rows
    done = []
    for n, row in rows:
        try:
            done.append((n, spec.transform(row)))
        except RowError as b:
            probs.add(at(n, b.column), b.text)
    return done


def _check_columns(path: Path, rows: list[tuple[int, dict]], spec: Preset, probs: Problems) -> Preset:
    """The layout with absent optional fields unmapped; an absent column that is needed is reported once."""
    columns = set().union(*(r.keys() for _, r in rows)) if rows else set()
    mapping, shown = spec.mapping, sorted(c for c in columns if not c.startswith("_"))
    missing = False
    for f, paths in mapping.paths().items():
        for p in paths:
            if p in columns or top_column(p) in columns:
                continue
            if f in spec.optional:
                mapping = dataclasses.replace(mapping, **{f: None})
                continue
            missing = True
            what = f"the template's column '{p}'" if f == "question" and p != mapping.question else \
                f"the {f} column '{p}'"
            # Reported once for the file: repeating it on every row would push the other problems out.
            probs.add(at(1, p) if path.suffix.lower() == ".csv" else f"column '{p}'",
                      f"{what} is not in the file; its columns are: {', '.join(shown) or '(none)'}; rename the "
                      f"column or map {f} to one of them")
    if missing:
        probs.check()
    return dataclasses.replace(spec, mapping=mapping)


def _layout_hints(rows: list[tuple[int, dict]], spec: Preset, probs: Problems) -> None:
    """File-level fixes for the most common wrong layouts: a public dataset read without its preset, answers of
    another type than the one asked for."""
    columns = set().union(*(r.keys() for _, r in rows)) if rows else set()
    if spec.name == "custom":
        for name in suggest_presets(columns, [r.get("answer") for _, r in rows[:50]]):
            probs.hint(f"this looks like {name}'s published layout: read it with --preset {name}")
    path = spec.mapping.answer
    values = [lookup(r, path) for _, r in rows] if path and path in columns | {top_column(path)} else []
    values = [v for v in values if v is not MISSING and v is not None]
    if not values:
        return
    if all(isinstance(v, bool) for v in values) and not spec.mapping.label_map:
        probs.hint("every answer is a boolean: map it with --label-map true=yes,false=no and --answer-type label")
    elif spec.answer_type == "number" and all(isinstance(v, str) and re.fullmatch(r"\(?[A-Ea-e]\)?", v.strip())
                                              for v in values):
        probs.hint("every answer is a letter A-E: use --answer-type choice with --choices COLUMN")
    elif spec.answer_type == "number" and all(isinstance(v, str) and re.fullmatch(r"[A-Za-z][\w -]*", v.strip())
                                              for v in values):
        probs.hint("every answer is a word: use --answer-type label (a small label set) or --answer-type text")
    elif spec.answer_type == "choice" and not spec.mapping.choices:
        probs.hint("choice answers need the row's choices: map them with --choices COLUMN")


def _row_examples(rows: list[tuple[int, dict]], reader: _Reader, split: str) -> list[Example]:
    """Every row's Example with its split (ids checked to be unique); problems are collected, not raised."""
    examples, seen = [], {}
    probs, m = reader.probs, reader.spec.mapping
    for n, row in rows:
        got = reader.example(n, row)
        if got is None:
            continue
        ex, raw_split = got
        if ex.id in seen:
            probs.add(at(n, m.id), f"id '{ex.id}' is already used by row {seen[ex.id]}; ids must be unique")
        seen.setdefault(ex.id, n)
        if split != "auto":
            ex.split = split
        elif m.split is not None:
            ex.split = SPLIT_NAMES.get((raw_split or "").lower(), "")
            if not ex.split:
                probs.add(at(n, m.split), f"split {raw_split or ''!r} is not one of {', '.join(SPLIT_NAMES)}; "
                          "fix the value or read the file with split='pool' or 'test'")
        if not ex.answer and ex.split == "test":
            probs.add(at(n, m.answer), "a test row needs a gold answer to be scored; give it one or put it in the pool")
        examples.append(ex)
    return examples


def read_dataset(path: str | Path, mapping: ColumnMapping | dict | None = None, preset: str | None = None,
                 answer_type: str | None = None, split: str = "auto", test_fraction: float = 0.2, seed: int = 0,
                 max_field_chars: int = 100_000, file_format: str | None = None) -> list[Example]:
    """Every row of the file as an Example, or a DatasetError (with `.problems`) listing what is wrong.

    Rows are numbered as an editor shows them: by line for JSONL and CSV (the CSV header is row 1), by
    position for JSON arrays and Parquet. A preset fixes the columns and the answer type. `split`: "auto"
    uses the split column when mapped and present, else a seeded random `test_fraction` of the rows with a gold
    answer; "pool" or "test" puts every row there. Bad arguments raise ConfigError.
    """
    spec = resolve_layout(mapping, preset, answer_type, file_format)
    for failed, message in (
            (split not in ("auto", "pool", "test"), f"split {split!r} is invalid; use 'auto', 'pool' or 'test'"),
            (not 0 <= test_fraction < 1, f"test_fraction {test_fraction!r} is out of range; it must be >= 0 and < 1"),
            (max_field_chars < 1, f"max_field_chars {max_field_chars!r} must be a positive number of characters")):
        if failed:
            raise ConfigError(message)
    path = Path(path)
    probs = Problems(path)
    rows = load_rows(path, probs, max_field_chars, spec.format, spec.mapping.records)
    if not rows:
        probs.check()
    rows = _transformed(rows, spec, probs)
    try:
        spec = _check_columns(path, rows, spec, probs)
    except DatasetError:
        _layout_hints(rows, spec, probs)
        probs.check()
    examples = _row_examples(rows, _Reader(spec, probs, max_field_chars, path.stem), split)
    if probs.found:
        _layout_hints(rows, spec, probs)
    probs.check()
    if split == "auto" and spec.mapping.split is None:
        # Row positions drawn by a private RNG: the same file and seed give the same split, whatever else ran.
        gold = [i for i, ex in enumerate(examples) if ex.answer]
        test = set(random.Random(seed).sample(gold, round(len(gold) * test_fraction)))
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


__all__ = ["FIELDS", "PRESETS", "SPLIT_NAMES", "ColumnMapping", "read_dataset", "resolve_layout", "write_jsonl"]
