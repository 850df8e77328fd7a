"""A teacher revision as the student will learn it: the student's steps before the first error plus the teacher's
replacement steps (assembly), and the step-by-step diff a reviewer reads. Pure functions over records."""

from __future__ import annotations

from ..states import TeacherOutcome
from .reasoning import format_explanation
from .records import TeacherResult


def assemble(student_steps: list[str], result: TeacherResult,
             student_answer: str | None = None) -> tuple[list[str], str] | None:
    """s_1..s_{j-1} + revised_steps and the answer; when first_error is None the student's explanation
    stands, its own answer included (the teacher's answer only fills in where the student gave none).

    Returns None for a failed result (nothing usable to train on until a reviewer fixes it).
    """
    if result.status == TeacherOutcome.FAILED:
        return None
    if result.first_error is None:
        answer = student_answer or result.answer
        return (list(student_steps), answer) if answer else None
    return list(student_steps[:result.first_error - 1]) + list(result.revised_steps), result.answer


def assembled_text(student_steps: list[str], result: TeacherResult, student_answer: str | None = None) -> str | None:
    parts = assemble(student_steps, result, student_answer)
    return None if parts is None else format_explanation(*parts)


def step_diff(student: list[str], revised: list[str],
              first_error: int | None) -> list[tuple[str, str | None, str | None]]:
    """Steps before the first error are kept; from it on, student and revised steps are paired as revised,
    with the leftovers removed (student) or added (revised). Rows: (kept|revised|removed|added, old, new)."""
    if first_error is None:
        return [("kept", s, s) for s in student]
    j = first_error - 1
    rows = [("kept", s, s) for s in student[:j]]
    tail_old, tail_new = student[j:], revised[j:] if revised[:j] == student[:j] else revised
    for k in range(max(len(tail_old), len(tail_new))):
        old = tail_old[k] if k < len(tail_old) else None
        new = tail_new[k] if k < len(tail_new) else None
        kind = "removed" if new is None else "added" if old is None else "kept" if old == new else "revised"
        rows.append((kind, old, new))
    return rows
