"""Accuracy of the student on the held-out test split: greedy explanations, scored by method/accuracy.py."""

from __future__ import annotations

from collections.abc import Callable

from ..method.accuracy import score_explanations
from ..method.reasoning import build_prompt
from ..method.records import Example


def evaluate(student, examples: list[Example], answer_type: str, max_new_tokens: int, batch_size: int = 32,
             on_batch: Callable[[int], None] | None = None) -> dict:
    """{'accuracy', 'n', 'by_difficulty': {steps: {'accuracy', 'n'}}, 'predictions': {id: answer}}."""
    if not examples:
        return score_explanations([], [], answer_type)
    texts = student.generate([build_prompt(e.question) for e in examples], max_new_tokens=max_new_tokens,
                             batch_size=batch_size, on_batch=on_batch)
    return score_explanations(examples, [text for (text,) in texts], answer_type)
