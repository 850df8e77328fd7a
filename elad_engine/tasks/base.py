"""A task kind: how a question and its choices are put to the student and the teacher, how an answer is read,
checked and compared, and how a gold rationale becomes steps. Pure (no torch, no SQLite). One subclass per answer
type (number.py, choice.py, label.py, text.py); `task_for(answer_type)` in registry.py finds the project's.
"""

from __future__ import annotations

import re

from ..method.reasoning import split_steps
from ..method.records import Example

# A one-line rationale is split after a sentence's end or before an equation's next clause ("; ").
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9(\"'$\-])")


class Task:
    """The base does the work; a kind fills in `read` (raw text -> canonical answer) and says how choices look."""

    answer_type: str = ""
    gold_hint: str = ""  # what a valid gold answer looks like, for messages

    # -- showing a question ------------------------------------------------------------------------------------
    def choices_text(self, choices: list[str]) -> str:
        """The line that shows a row's choices under its question."""
        return "Choices: " + "; ".join(choices)

    def student_text(self, example: Example) -> str:
        """The question as the student sees it (in training, evaluation, probes and export alike)."""
        extra = self.choices_text(example.choices) if example.choices else ""
        return example.question.strip() + (f"\n{extra}" if extra else "")

    def teacher_text(self, example: Example) -> str:
        """The question as the teacher sees it: the same words and choices as the student."""
        return self.student_text(example)

    # -- answers -----------------------------------------------------------------------------------------------
    def read(self, raw: str, choices: list[str] | None) -> str | None:
        raise NotImplementedError

    def normalize(self, raw: str | None, choices: list[str] | None = None) -> str | None:
        """The canonical answer in `raw` (a student's, a teacher's or a gold one), or None when none can be read."""
        if raw is None:
            return None
        raw = raw.strip()
        return self.read(raw, choices) if raw else None

    def gold_problem(self, raw: str, choices: list[str] | None) -> str | None:
        """Why `raw` cannot be a gold answer of this task (the message names the fix), or None when it can."""
        if self.normalize(raw, choices) is None:
            return f"gold answer {raw!r} is not a valid {self.answer_type}; write {self.gold_hint}"
        return None

    def matches(self, a: str | None, b: str | None, choices: list[str] | None = None) -> bool:
        """True when two raw or canonical answers are the same answer of this task."""
        na, nb = self.normalize(a, choices), self.normalize(b, choices)
        return na is not None and na == nb

    def is_correct(self, predicted: str | None, example: Example) -> bool:
        return self.matches(predicted, example.answer, example.choices)

    def follows_format(self, text: str, choices: list[str] | None = None) -> bool:
        """At least one step, then an answer line readable as this task's answer."""
        steps, raw = split_steps(text)
        return bool(steps) and self.normalize(raw, choices) is not None

    # -- gold rationales ---------------------------------------------------------------------------------------
    def rationale_steps(self, rationale: str) -> list[str]:
        """A gold rationale as steps: its lines, or its sentences when it is a single line."""
        steps = split_steps(rationale)[0]
        if len(steps) == 1:
            steps = [s.strip() for s in _SENTENCE_END.split(steps[0]) if s.strip()]
        return steps
