"""Multiple choice (AQuA, CommonsenseQA): the row's choices are shown lettered, `(A) 95  (B) 150 ...`, to the
student and the teacher; an answer is a letter of one of them (`B`, `(b)`, `B) 150`, `B.`) or a choice's exact
text. "a dog" is not A and "I think B" is not I: a letter counts only standing alone or before `)`, `.` or `:`.
"""

from __future__ import annotations

import re
import string

from .base import Task

LETTERS = string.ascii_uppercase
_LETTER = re.compile(r"^\(?([A-Za-z])\)?[.:]?$")  # B | (b) | B. | B:
_LETTER_THEN_TEXT = re.compile(r"^\(?([A-Za-z])(?:\)|[.:])\s*(\S.*)?$")  # B) 150 | (B) 150 | B. 150 | B: 150


def letter_of(index: int) -> str:
    return LETTERS[index]


class ChoiceTask(Task):
    answer_type = "choice"
    gold_hint = "the letter of one of the row's choices, such as B"

    def choices_text(self, choices: list[str]) -> str:
        return "Answer choices: " + "  ".join(f"({letter_of(i)}) {c}" for i, c in enumerate(choices))

    def read(self, raw: str, choices: list[str] | None) -> str | None:
        text = " ".join(raw.split()).rstrip(".").strip()
        m = _LETTER.match(text) or _LETTER_THEN_TEXT.match(text)
        if m:
            letter = m.group(1).upper()
            return None if choices and LETTERS.index(letter) >= len(choices) else letter
        if choices:  # the exact text of a choice answers its letter
            texts = [" ".join(c.split()).rstrip(".").lower() for c in choices]
            if text.lower() in texts:
                return letter_of(texts.index(text.lower()))
        return None

    def gold_problem(self, raw: str, choices: list[str] | None) -> str | None:
        if not choices:
            return f"gold answer {raw!r} is a choice but this row has no choices; map the choices column"
        if self.normalize(raw, choices) is None:
            return (f"gold answer {raw!r} is not one of this row's {len(choices)} choices "
                    f"({', '.join(LETTERS[:len(choices)])})")
        return None
