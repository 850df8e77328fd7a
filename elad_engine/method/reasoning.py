"""The student's explanation format: prompt, numbered steps, `The answer is X.`, answer normalisation.

Every module that builds or parses an explanation goes through here, so the format lives in one place.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

ANSWER_TRIGGER = "The answer is"
ANSWER_TYPES = ("number", "choice", "label", "text")

# "3." numbers a step, "3.5" starts one: the numbering must not run into a digit.
_NUMBERING = re.compile(r"^\s*(?:step\s*)?\d+\s*[.):](?!\d)\s*", re.IGNORECASE)
_TRIGGER = re.compile(r"the answer is\s*:?\s*(.*)", re.IGNORECASE | re.DOTALL)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_CHOICE = re.compile(r"^\(?([A-Za-z])\)?(?:[.):\s]|$)")


def build_prompt(question: str) -> str:
    """The student prompt for a question; the explanation is generated right after it."""
    return f"Question: {question.strip()}\nAnswer:\n"


def format_steps(steps: list[str]) -> str:
    """Numbered steps, one per line, each line ending in a newline."""
    return "".join(f"{i}. {s.strip()}\n" for i, s in enumerate(steps, 1))


def format_explanation(steps: list[str], answer: str) -> str:
    """The canonical explanation text: numbered steps then `The answer is X.`"""
    answer = answer.strip().rstrip(".")
    return f"{format_steps(steps)}{ANSWER_TRIGGER} {answer}."


def probe_prefix(question: str, steps: list[str], k: int) -> str:
    """Prompt + steps s_1..s_k + the answer trigger: the input of the k-th answer probe."""
    return build_prompt(question) + format_steps(steps[:k]) + ANSWER_TRIGGER


def split_steps(text: str) -> tuple[list[str], str | None]:
    """Split an explanation into (steps, raw answer text).

    Steps are the non-empty lines before the answer line, numbering stripped. The answer is the text
    after `The answer is` (first occurrence); None when the explanation never states an answer.
    """
    steps: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        m = _TRIGGER.search(line)
        if m:
            before = line[: m.start()].strip()
            if before and _NUMBERING.sub("", before).strip():
                steps.append(_NUMBERING.sub("", before).strip())
            return steps, m.group(1).strip()
        stripped = _NUMBERING.sub("", line).strip()
        if stripped:
            steps.append(stripped)
    return steps, None


def short_answer(text: str) -> str:
    """The answer text of a probe completion: up to the first line break or sentence end."""
    text = text.split("\n", 1)[0].strip()
    m = re.match(r"(.*?)\.(?:\s|$)", text + " ")
    return (m.group(1) if m else text).strip()


def _canonical_number(s: str) -> str | None:
    s = s.strip().replace("$", "").replace("%", "").replace(",", "").replace("\u2212", "-")
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    d = d.normalize()
    # Decimal("1E+1").normalize() prints in exponent form; force plain notation.
    out = format(d, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def normalize_answer(raw: str | None, answer_type: str = "number") -> str | None:
    """Canonical form of an answer, or None when no answer of that type can be read from it.

    number: the first number in the text, commas/`$`/`%` stripped, `12.0` -> `12`.
    choice: a single letter, upper-cased (`(b)` -> `B`). label: lower-cased, trimmed, no final dot.
    text: whitespace collapsed, no final dot.
    """
    if raw is None:
        return None
    raw = raw.strip()
    if answer_type == "number":
        m = _NUMBER.search(raw.replace("$", "").replace("\u2212", "-"))
        return _canonical_number(m.group(0)) if m else None
    if answer_type == "choice":
        m = _CHOICE.match(raw)
        return m.group(1).upper() if m else None
    text = " ".join(raw.split()).rstrip(".").strip()
    if not text:
        return None
    return text.lower() if answer_type == "label" else text


def follows_format(text: str, answer_type: str = "number") -> bool:
    """Whether an explanation is in the format: at least one step, then an answer line readable as the type."""
    steps, raw = split_steps(text)
    return bool(steps) and normalize_answer(raw, answer_type) is not None


def gold_is_valid(raw: str, answer_type: str) -> bool:
    """A gold answer must be readable as the task's answer type, entirely (not just a prefix)."""
    if answer_type == "number":
        value = _canonical_number(raw)
        return value is not None and not math.isnan(float(value))
    return normalize_answer(raw, answer_type) is not None


def answers_match(a: str | None, b: str | None, answer_type: str = "number") -> bool:
    """True when two raw or normalised answers are the same answer of the given type."""
    na, nb = normalize_answer(a, answer_type), normalize_answer(b, answer_type)
    return na is not None and na == nb
