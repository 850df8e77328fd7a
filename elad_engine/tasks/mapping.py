"""Which part of a row holds each Example field: a column, a dotted path into nested JSON with list indexes
(`question.stem`, `lSolutions[0]`), or a question template over several (`{Body} {Question}`); a label map for the
gold answer (`true=yes,false=no`). Used by datasets.py; presets.py fills these in for the public datasets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

MISSING = object()
_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[-?\d+\])*)")
_FIELD = re.compile(r"\{([^{}]+)\}")
FIELDS = ("question", "answer", "choices", "rationale", "id", "split", "difficulty")


@dataclass
class ColumnMapping:
    """Where each Example field is in a row; None means the file has none. Every value but `question` is a path;
    `question` may also be a template such as "{Body} {Question}"."""

    question: str = "question"
    answer: str = "answer"  # the gold answer, kept as its stripped text
    choices: str | None = None  # a list of strings or of {label, text} objects (a JSON string of one in CSV)
    rationale: str | None = None  # the gold explanation: text, or a list of steps
    id: str | None = None  # without it, ids are f"{file stem}-{row number}"
    split: str | None = None  # train/pool -> pool, test/validation/val/dev -> test (used when split="auto")
    difficulty: str | None = None  # an integer
    label_map: dict[str, str] = field(default_factory=dict)  # gold answer as written -> the answer to keep
    records: str | None = None  # a path to the list of rows inside a JSON object that wraps them
    gold_optional: bool = False  # pool rows may have no gold answer (the teacher answers them)

    def __post_init__(self):
        for name in FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"the {name} mapping {value!r} is empty; name a column or leave it out")
            try:
                paths_of(value) if name == "question" else [parse_path(value)]
            except ValueError as e:
                raise ConfigError(f"the {name} mapping {value!r} is not a column, path or template: {e}") from None

    def paths(self) -> dict[str, list[str]]:
        """Each mapped field's paths (a template has one per placeholder)."""
        return {f: (paths_of(v) if f == "question" else [v]) for f in FIELDS if (v := getattr(self, f)) is not None}


def parse_label_map(text: str) -> dict[str, str]:
    """`true=yes,false=no` -> {'true': 'yes', 'false': 'no'}; ConfigError names a pair without '='."""
    out = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ConfigError(f"label map entry {pair!r} is not FROM=TO; write it like true=yes,false=no")
        out[key.strip()] = value.strip()
    return out


def parse_path(path: str) -> list[str | int]:
    """`question.stem` -> ['question', 'stem']; `lSolutions[0]` -> ['lSolutions', 0]. A plain column name with dots
    of its own is looked up whole first (see `lookup`)."""
    out: list[str | int] = []
    for part in path.split("."):
        m = _SEGMENT.fullmatch(part)
        if not m:
            raise ValueError(f"'{part}' is not a name optionally followed by [index]")
        out.append(m.group(1))
        out += [int(i) for i in re.findall(r"\[(-?\d+)\]", m.group(2))]
    return out


def paths_of(question: str) -> list[str]:
    """The paths a question mapping reads: the placeholders of a template, or the one path."""
    if "{" not in question and "}" not in question:
        return [question]
    found = _FIELD.findall(question)
    if not found or _FIELD.sub("", question).count("{") or _FIELD.sub("", question).count("}"):
        raise ValueError("a template puts each column in braces, like {Body} {Question}")
    for p in found:
        parse_path(p)
    return found


def lookup(row: dict, path: str) -> Any:
    """The value at `path` in the row, or MISSING (a key absent, an index out of range, a step into a non-container)."""
    if path in row:
        return row[path]
    value: Any = row
    for step in parse_path(path):
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return MISSING
    return value


def render_template(template: str, values: dict[str, str]) -> str:
    return _FIELD.sub(lambda m: values[m.group(1)], template)


def top_column(path: str) -> str:
    """The column of the file a path starts from (what must exist in the file)."""
    return path if "." not in path and "[" not in path else str(parse_path(path)[0])
