"""One review sample laid out step by step: the student's steps with their probe answers and the teacher's verdicts,
the step diff of the revision, the uncertainty that selected it and its review history."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..method.reasoning import split_steps
from ..method.revision import step_diff
from ..method.uncertainty import intra_variant
from ..modes import TeacherKind
from ..states import ExplanationKind
from ..store import Store
from ..store.revisions import ReviewRow, RevisionRow
from ..tasks.registry import task_for
from .queue import revised_answer


@dataclass
class StepRow:
    text: str
    probe_before: str | None  # the probe answer before this step (â_{k-1})
    probe_after: str | None  # the probe answer after it (â_k)
    unstable: bool  # the project's intra signal says the student was unstable at this step
    verdict: bool | None  # the teacher's verdict on the step (None when it gave none)
    reason: str = ""


@dataclass
class SampleView:
    revision: RevisionRow
    question: str
    gold: str
    uncertainty: float | None
    score_parts: dict
    student_steps: list[StepRow]
    student_answer: str | None
    diff: list[tuple[str, str | None, str | None]]  # (kept|revised|removed|added, student step, revised step)
    revised_steps: list[str]
    revised_answer: str | None
    revised_matches_gold: bool
    history: list[ReviewRow] = field(default_factory=list)
    signal: str = ""  # what "unstable" means here: the intra variant's description
    simulated: bool = False  # the revision came from a simulated teacher (the data's reference, the oracle)


def step_rows(steps: list[str], probes: list[str | None], verdicts: list[dict],
              unstable: list[bool] | None = None) -> list[StepRow]:
    """One row per student step; `unstable` holds the intra signal's flag per step (none: no step shaded)."""
    rows = []
    for k, text in enumerate(steps):
        before = probes[k] if k < len(probes) else None
        after = probes[k + 1] if k + 1 < len(probes) else None
        v = verdicts[k] if k < len(verdicts) else None
        rows.append(StepRow(text, before, after, bool(unstable and k < len(unstable) and unstable[k]),
                            None if v is None else bool(v["correct"]), (v or {}).get("reason", "")))
    return rows


def sample(store: Store, revision_id: int) -> SampleView:
    rev = store.revisions.get(revision_id)
    project_id, rnd = rev["project_id"], rev["round"]
    cfg = store.projects.config(project_id)
    example = store.examples.get(project_id, rev["example_id"])
    greedy = next(iter(store.explanations.list(project_id, rnd, ids=[example.id], kind=ExplanationKind.GREEDY)), None)
    steps, student_answer = (greedy.steps, greedy.answer) if greedy else ([], None)
    variant = intra_variant(cfg.uncertainty.intra)
    rows = step_rows(steps, (greedy.probe_answers if greedy else None) or [], rev["verdicts"] or [],
                     variant.unstable(greedy) if greedy else None)
    final = rev["final_text"] or rev["text"] or ""
    revised_steps, _ = split_steps(final) if final else ([], None)
    score = next(iter(store.scores.list(project_id, rnd, example_id=example.id)), None)
    answer = revised_answer(rev)
    task = task_for(cfg.task)
    return SampleView(rev, task.student_text(example), example.answer, score["score"] if score else None,
                      (score or {}).get("components") or {}, rows, student_answer,
                      step_diff(steps, revised_steps, rev["first_error"] if rev["mode"] == "revision" else 1),
                      revised_steps, answer, task.is_correct(answer, example),
                      store.reviews.list(revision_id, effective=False), f"{variant.name}: {variant.description}",
                      TeacherKind.simulated_name(rev["teacher"]))
