"""The task kinds by answer type; `task_for(cfg.task)` or `task_for("choice")` gives the project's task."""

from __future__ import annotations

from .base import Task
from .choice import ChoiceTask
from .label import LabelTask
from .number import NumberTask
from .text import TextTask

TASKS: dict[str, Task] = {t.answer_type: t for t in (NumberTask(), ChoiceTask(), LabelTask(), TextTask())}
ANSWER_TYPES = tuple(TASKS)


def task_for(kind) -> Task:
    """The task of an answer type, or of a TaskConfig (anything with `.answer_type`)."""
    name = getattr(kind, "answer_type", kind)
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown answer type {name!r}; known: {', '.join(TASKS)}") from None
