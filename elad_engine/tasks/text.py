"""Free-text answers: whitespace collapsed, a final full stop dropped, compared exactly (case kept)."""

from __future__ import annotations

from .base import Task


class TextTask(Task):
    answer_type = "text"
    gold_hint = "a non-empty answer"

    def read(self, raw: str, choices: list[str] | None) -> str | None:
        return " ".join(raw.split()).rstrip(".").strip() or None
