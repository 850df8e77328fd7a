"""The student's explanation format: prompt scaffold, numbered steps, `The answer is X.`

Every module that builds or parses an explanation goes through here, so the format lives in one place; how an
answer is read and compared is the task's (elad_engine/tasks/).
"""

from __future__ import annotations

import re

ANSWER_TRIGGER = "The answer is"

# "3." numbers a step, "3.5" starts one: the numbering must not run into a digit.
_NUMBERING = re.compile(r"^\s*(?:step\s*)?\d+\s*[.):](?!\d)\s*", re.IGNORECASE)
_TRIGGER = re.compile(r"the answer is\s*:?\s*(.*)", re.IGNORECASE | re.DOTALL)


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
