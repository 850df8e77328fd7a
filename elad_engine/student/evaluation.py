"""Accuracy of the student on the held-out test split: greedy explanations in the project's prompt style, scored by
method/accuracy.py."""

from __future__ import annotations

from collections.abc import Callable

from ..method.accuracy import score_explanations
from ..method.records import Example
from ..tasks.base import Task
from .prompt_style import PromptStyle


def evaluate(student, examples: list[Example], task: Task, max_new_tokens: int, batch_size: int = 32,
             on_batch: Callable[[int], None] | None = None, style: PromptStyle | None = None) -> dict:
    """{'accuracy', 'n', 'by_difficulty': {steps: {'accuracy', 'n'}}, 'predictions': {id: answer}, 'format_ok'}."""
    if not examples:
        return score_explanations([], [], task)
    style = style or PromptStyle("completion")
    texts = student.generate(style.prompts(student.tokenizer, [task.student_text(e) for e in examples]),
                             max_new_tokens=max_new_tokens, batch_size=batch_size, on_batch=on_batch)
    return score_explanations(examples, [text for (text,) in texts], task)
