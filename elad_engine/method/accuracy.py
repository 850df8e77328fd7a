"""Scoring the student's answers on the test split: accuracy overall and by difficulty (steps), and the
multi-step accuracy the embedded task reports. Pure: the student's predictions come from student/evaluation.py."""

from __future__ import annotations

from collections import defaultdict

from ..tasks.base import Task
from .reasoning import split_steps
from .records import Example


def score_explanations(examples: list[Example], texts: list[str], task: Task) -> dict:
    """{'accuracy', 'n', 'by_difficulty': {steps: {'accuracy', 'n'}}, 'predictions': {id: answer}, 'format_ok',
    'correct': [ids answered right]}
    of the explanations `texts` (one per example, in order); format_ok is the share that follows the format."""
    if not examples:
        return {"accuracy": None, "n": 0, "by_difficulty": {}, "predictions": {}, "format_ok": None, "correct": []}
    hits, groups, preds, correct = 0, defaultdict(list), {}, []
    for e, text in zip(examples, texts):
        pred = task.normalize(split_steps(text)[1], e.choices)
        ok = pred is not None and pred == task.normalize(e.answer, e.choices)
        hits += ok
        preds[e.id] = pred
        if ok:
            correct.append(e.id)
        if e.difficulty is not None:
            groups[e.difficulty].append(ok)
    by_difficulty = {str(k): {"accuracy": sum(v) / len(v), "n": len(v)} for k, v in sorted(groups.items())}
    return {"accuracy": hits / len(examples), "n": len(examples), "by_difficulty": by_difficulty,
            "predictions": preds, "format_ok": format_compliance(texts, task, [e.choices for e in examples]),
            "correct": correct}


def format_compliance(texts: list[str], task: Task, choices: list[list[str] | None] | None = None) -> float | None:
    """The share of explanations with at least one step and a readable answer line (None for no text); `choices`
    holds each text's row choices where the task has them."""
    choices = choices or [None] * len(texts)
    return sum(task.follows_format(t, c) for t, c in zip(texts, choices)) / len(texts) if texts else None


def multi_step_accuracy(by_difficulty: dict[str, dict] | None) -> float | None:
    """Accuracy over all test samples of difficulty >= 2 (multi-step problems)."""
    groups = [g for k, g in (by_difficulty or {}).items() if k.isdigit() and int(k) >= 2]
    n = sum(g["n"] for g in groups)
    return sum(g["accuracy"] * g["n"] for g in groups) / n if n else None
