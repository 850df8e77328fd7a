"""What a dataset file looks like before any mapping: its columns and first rows (`peek`), and the preset or
column mapping they suggest (`suggest`: a preset whose signature columns are all there, else columns picked by
their names, a question template where the question is split over two columns as in SVAMP). The guided setup
shows both as pick lists; nothing here decides for the user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import Problems, load_rows
from .presets import PRESETS

NAMES = {  # field -> column names that usually hold it, best first (compared without case)
    "question": ("question", "problem", "query", "input", "prompt", "text", "squestion"),
    "answer": ("answer", "label", "correct", "gold", "target", "output", "answerkey", "gold_label"),
    "choices": ("choices", "options"),
    "rationale": ("rationale", "explanation", "solution", "reasoning", "steps"),
    "id": ("id", "qid", "uid", "idx"),
    "split": ("split",),
    "difficulty": ("difficulty", "level", "steps_count"),
}


def peek(path: str | Path, file_format: str | None = None, rows: int = 5,
         max_chars: int = 100_000) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """(columns in the order first seen over the first 200 rows, the first `rows` rows, problems reading it)."""
    probs = Problems(Path(path))
    read = load_rows(Path(path), probs, max_chars, file_format)
    columns: list[str] = []
    for _, row in read[:200]:
        columns += [c for c in row if c not in columns]
    return columns, [row for _, row in read[:rows]], [text for _, _, text in probs.found]


def suggest(columns: list[str]) -> dict[str, Any]:
    """{"preset": name or None, "mapping": {field: column or template}}: a guess for the user to check."""
    present = set(columns)
    matches = [p for p in PRESETS.values() if p.signature and p.signature <= present]
    preset = max(matches, key=lambda p: len(p.signature)).name if matches else None
    lower = {c.lower(): c for c in columns}
    mapping: dict[str, str] = {}
    for name, candidates in NAMES.items():
        found = next((lower[c] for c in candidates if c in lower and lower[c] not in mapping.values()), None)
        if found:
            mapping[name] = found
    if "body" in lower and "question" in lower:  # a context and a question in two columns (SVAMP)
        mapping["question"] = f"{{{lower['body']}}} {{{lower['question']}}}"
    return {"preset": preset, "mapping": mapping}
