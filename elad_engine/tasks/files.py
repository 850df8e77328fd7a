"""Reading a dataset file into numbered rows (JSONL, CSV, Parquet, a JSON array or an object wrapping one), and
collecting every problem found in a file, grouped by kind with a count and the first rows, so that a user can fix
the whole file in one go. Used by datasets.py, which maps rows to examples."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from ..errors import DatasetError

MAX_PROBLEMS = 20  # kinds of problem shown
ROWS_SHOWN = 5  # rows named per kind
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".json": "json"}
EXAMPLE_ROW = '{"question": ..., "answer": ...}'


def _kind(where: str | None, text: str) -> str:
    """What makes two problems the same kind: the column and the message with its values and numbers taken out."""
    column = re.sub(r"^(?:row|line) \d+,? ?", "", where or "")
    return column + "|" + re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|\d[\d,.]*", "_", text)


class Problems:
    """Collects problems so that a user can fix the whole file in one go, not one error per attempt. The message
    has one line per kind of problem (the first row's words, then how many rows and which), then the fixes."""

    def __init__(self, path: Path):
        self.path, self.found, self.hints = path, [], []

    def add(self, where: str | None, text: str) -> None:
        # Parsing and validation find problems in separate passes; sorting by row reads like the file.
        m = re.match(r"(?:row|line) (\d+)", where or "")
        self.found.append((int(m.group(1)) if m else 0, where, text))

    def hint(self, text: str) -> None:
        """A file-level fix, printed after the problems ("every answer is a boolean: map it with ...")."""
        if text not in self.hints:
            self.hints.append(text)

    def lines(self) -> list[str]:
        groups: dict[str, list[tuple[int, str | None, str]]] = {}
        for p in sorted(self.found, key=lambda p: p[0]):
            groups.setdefault(_kind(p[1], p[2]), []).append(p)
        out = []
        for items in groups.values():
            _, where, text = items[0]
            line = f"{where}: {text}" if where else text
            if len(items) > 1:
                rows = [str(n) for n, _, _ in items[1:ROWS_SHOWN + 1]]
                more = len(items) - 1 - len(rows)
                line += (f" [and {len(items) - 1} more row{'s' * (len(items) > 2)} like it: "
                         f"{', '.join(rows)}{f' and {more:,} more' if more else ''}]")
            out.append(line)
        return out

    def check(self) -> None:
        if not self.found:
            return
        n, lines = len(self.found), self.lines()
        shown = lines[:MAX_PROBLEMS]
        body = [f"refused {self.path}: {n:,} problem{'s' if n != 1 else ''}"
                + (f" of {len(lines)} kinds" if len(lines) > 1 and len(lines) < n else ""), *(f"  {s}" for s in shown)]
        if len(lines) > len(shown):
            body.append(f"  ... and {len(lines) - len(shown)} more kinds not shown; fix these and read the file again")
        body += [f"fix: {h}" for h in self.hints]
        err = DatasetError("\n".join(body))
        err.problems = shown + [f"fix: {h}" for h in self.hints]
        raise err


def at(row: int | None, column: str | None = None) -> str:
    return ", ".join(([f"row {row}"] if row is not None else []) + ([f"column '{column}'"] if column else []))


def kind_of(value: Any, prefix: str = "") -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    name = prefix + ("null" if value is None else names.get(type(value), type(value).__name__))
    return ("an " if name[0] in "aeiou" else "a ") + name


def _decode(data: bytes, probs: Problems, unit: str) -> str | None:
    try:
        return data.decode("utf-8-sig")  # a BOM is dropped transparently
    except UnicodeDecodeError:
        pass
    # UTF-8 never puts a 0x0A byte inside a character, so splitting the bytes on it finds every bad line.
    offset = 0
    for i, line in enumerate(data.split(b"\n"), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            probs.add(f"{unit} {i}", f"invalid UTF-8 at byte offset {offset + e.start} (byte 0x{line[e.start]:02x}); "
                      "re-save the file with UTF-8 encoding")
        offset += len(line) + 1
    return None


def _load_jsonl(text: str, probs: Problems, records: str | None = None) -> list[tuple[int, dict]]:
    rows = []
    # Not splitlines(): JSON strings may hold a raw U+2028 and the like, which it treats as line breaks.
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            probs.add(at(i), f"not valid JSON ({e.msg} at column {e.colno}); each line must hold one JSON object")
            continue
        if isinstance(obj, dict):
            rows.append((i, obj))
        else:
            probs.add(at(i), f"holds {kind_of(obj, 'JSON ')}, not an object; each line must hold one like "
                      f"{EXAMPLE_ROW}")
    return rows


def _load_csv(text: str, probs: Problems, max_chars: int) -> list[tuple[int, dict]]:
    limit = csv.field_size_limit()  # a process-wide setting: raised for this file only, put back after
    csv.field_size_limit(max(limit, max_chars + 1))
    try:
        return _read_csv(text, probs)
    finally:
        csv.field_size_limit(limit)


def _read_csv(text: str, probs: Problems) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows, last = [], 0
    try:
        for rec in reader:
            # A quoted field may span lines: a record is numbered by the line it starts on.
            start, last = last + 1, reader.line_num
            if not rec:
                continue
            if header is None:
                header = [h.strip() for h in rec]
                for h in sorted({h for h in header if header.count(h) > 1}):
                    probs.add(at(start, h), "appears twice in the header; give every column a distinct name")
            elif len(rec) != len(header):
                # pandas would pad short rows and push extra fields into the index: a shifted answer.
                if reader.line_num > start and any(f.count("\n") > 1 for f in rec):
                    # An unclosed quote swallows the lines after it into one field: say so, not "has 1 field".
                    probs.add(at(start), f"a quoted field starts on this row and is never closed: lines {start} to "
                              f"{reader.line_num} were read as one field; close the quote (write a quote inside a "
                              "field as \"\")")
                    continue
                probs.add(at(start), f"has {len(rec)} field{'s' * (len(rec) != 1)} but the header has "
                          f"{len(header)}; quote fields that contain commas and give every row one value per column")
            else:
                rows.append((start, dict(zip(header, rec))))
    except csv.Error as e:
        probs.add(at(reader.line_num), f"CSV syntax error ({e}); check the quoting on this line")
    return rows


def _looks_like_jsonl(text: str) -> bool:
    """A file of one JSON object per line (AQuA's .json files): its first line is an object on its own."""
    first = text.lstrip().split("\n", 1)[0]
    try:
        return isinstance(json.loads(first), dict) and first.strip() != text.strip()
    except json.JSONDecodeError:
        return False


def _load_json(text: str, probs: Problems, records: str | None = None) -> list[tuple[int, dict]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and _looks_like_jsonl(text):
            return _load_jsonl(text, probs)  # JSON Lines in a .json file: read as what it is
        probs.add(f"line {e.lineno}", f"not valid JSON ({e.msg} at column {e.colno}); fix the syntax")
        return []
    if records is not None:
        from .mapping import MISSING, lookup

        inner = lookup(data, records) if isinstance(data, dict) else MISSING
        if not isinstance(inner, list):
            keys = ", ".join(sorted(data)) if isinstance(data, dict) else "(not an object)"
            probs.add(None, f"the records path '{records}' does not lead to a list of rows; the top-level keys are: "
                      f"{keys}")
            return []
        data = inner
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if lists:
            probs.add(None, f"holds a JSON object whose '{lists[0]}' is the list of rows; read it with "
                      f"--records {lists[0]}")
            return []
    if not isinstance(data, list):
        probs.add(None, f"holds {kind_of(data, 'JSON ')}, not an array of objects; write [{EXAMPLE_ROW}, ...] "
                  "or put one object per line in a .jsonl file")
        return []
    for i, obj in enumerate(data, 1):
        if not isinstance(obj, dict):
            probs.add(at(i), f"array element is {kind_of(obj, 'JSON ')}, not an object like {EXAMPLE_ROW}")
    return [(i, obj) for i, obj in enumerate(data, 1) if isinstance(obj, dict)]


def load_rows(path: Path, probs: Problems, max_chars: int, fmt: str | None = None,
              records: str | None = None) -> list[tuple[int, dict]]:
    """The file's rows, numbered; `fmt` (jsonl, json, csv, parquet) reads it as that whatever its extension;
    `records` is the path to the rows inside a JSON object that wraps them."""
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt is None:
        probs.add(None, f"unsupported file type '{path.suffix}'; use one of {', '.join(FORMATS)} or say the "
                  "format (--format jsonl)")
        return []
    if not path.exists():
        probs.add(None, "file not found; check the path")
        return []
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            rows = list(enumerate(pq.read_table(path).to_pylist(), 1))
        except Exception as e:  # pyarrow raises many types for a damaged file; all mean the same to a user
            probs.add(None, f"not a readable Parquet file ({type(e).__name__}: {e}); export it again")
            return []
    else:
        try:
            data = path.read_bytes()
        except OSError as e:
            probs.add(None, f"cannot be read ({e.strerror or e}); check that it is a readable file")
            return []
        text = _decode(data, probs, "line" if fmt == "json" else "row")
        if text is None:
            return []
        if not text.strip():
            probs.add(None, "the file is empty; add at least one row")
            return []
        loader = {"jsonl": _load_jsonl, "json": _load_json}.get(fmt)
        rows = loader(text, probs, records) if loader else _load_csv(text, probs, max_chars)
    if not rows and not len(probs.found):
        probs.add(None, "the file has no data rows; add at least one" + " below the header" * (fmt == "csv"))
    return rows
