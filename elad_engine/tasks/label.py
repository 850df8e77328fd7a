"""Label answers from a small set (StrategyQA yes/no, NLI entailment/neutral/contradiction): lower-cased, and when
the row lists its labels (Example.choices) only one of them; the student is shown the labels it may answer."""

from __future__ import annotations

import re

from .base import Task

_WORD = re.compile(r"[\w-]+")


class LabelTask(Task):
    answer_type = "label"
    gold_hint = "a label such as yes or entailment"

    def choices_text(self, choices: list[str]) -> str:
        return "Answer with one of: " + ", ".join(choices) + "."

    def read(self, raw: str, choices: list[str] | None) -> str | None:
        text = " ".join(raw.split()).strip(" .\"'*").lower()
        if not text:
            return None
        if not choices:
            return text
        labels = {c.strip().lower() for c in choices}
        if text in labels:
            return text
        first = _WORD.match(text)  # "Yes, because ..." answers yes; "I think yes" answers nothing
        return first.group(0) if first and first.group(0) in labels else None

    def gold_problem(self, raw: str, choices: list[str] | None) -> str | None:
        if choices and self.normalize(raw, choices) is None:
            return f"gold answer {raw!r} is not one of this row's labels ({', '.join(choices)})"
        return super().gold_problem(raw, choices)
