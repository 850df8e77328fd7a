"""Plain dataclasses passed between engine modules. No behaviour beyond (de)serialisation helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..states import ExplanationKind, TeacherOutcome


@dataclass
class Example:
    """One task sample. `answer` is the gold answer as text; `meta` holds task-specific data."""

    id: str
    question: str
    answer: str
    split: str = "pool"  # pool | test
    rationale: str | None = None  # gold explanation, if the dataset has one
    choices: list[str] | None = None
    difficulty: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Explanation:
    """A student explanation: canonical steps plus the final answer and the per-prefix probes."""

    example_id: str
    kind: ExplanationKind
    sample_idx: int
    text: str
    steps: list[str]
    answer: str | None  # normalised answer, None when unparseable
    probe_answers: list[str | None] | None = None  # â_0..â_K (normalised)
    probe_probs: list[float] | None = None  # p_0..p_K for the soft intra score
    answer_entropy: float | None = None  # mean predictive entropy over the answer tokens
    mean_nll: float | None = None  # mean token NLL of the explanation


@dataclass
class StepVerdict:
    correct: bool
    reason: str = ""


@dataclass
class TeacherResult:
    """What a teacher returns for one sample (revision or full annotation)."""

    verdicts: list[StepVerdict]
    first_error: int | None  # 1-based step index; None means the student's explanation is confirmed
    revised_steps: list[str]  # replaces s_j..s_K (revision) or the whole explanation (full)
    answer: str
    prompt_tokens: int
    completion_tokens: int
    raw: str = ""  # the teacher's raw response text, kept for the reviewer
    status: TeacherOutcome = TeacherOutcome.OK
    error: str = ""
    cost_usd: float = 0.0  # dollars actually paid for this sample's calls (0 for cached replies)
    replies: list[str] = field(default_factory=list)  # every raw reply, in order (the first, then any repair)
