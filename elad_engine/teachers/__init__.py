"""Teachers: the protocol every backend implements, the registry, and revision assembly.

A teacher answers `revise` (check the student's steps, rewrite from the first wrong one) and
`annotate_full` (a complete explanation from scratch); both return a records.TeacherResult.
"""

from __future__ import annotations

from typing import Protocol

from ..config import TeacherConfig
from ..reasoning import format_explanation
from ..records import Example, TeacherResult
from .prompts import PROMPT_VERSION, full_messages, revision_messages


class Teacher(Protocol):
    name: str

    def revise(self, example: Example, steps: list[str], answer: str | None) -> TeacherResult: ...

    def annotate_full(self, example: Example) -> TeacherResult: ...


def assemble(student_steps: list[str], result: TeacherResult,
             student_answer: str | None = None) -> tuple[list[str], str] | None:
    """s_1..s_{j-1} + revised_steps and the answer; when first_error is None the student's explanation
    stands, its own answer included (the teacher's answer only fills in where the student gave none).

    Returns None for a failed result (nothing usable to train on until a reviewer fixes it).
    """
    if result.status == "teacher_failed":
        return None
    if result.first_error is None:
        answer = student_answer or result.answer
        return (list(student_steps), answer) if answer else None
    return list(student_steps[:result.first_error - 1]) + list(result.revised_steps), result.answer


def assembled_text(student_steps: list[str], result: TeacherResult, student_answer: str | None = None) -> str | None:
    parts = assemble(student_steps, result, student_answer)
    return None if parts is None else format_explanation(*parts)


def make_teacher(cfg: TeacherConfig) -> Teacher:
    """The configured teacher backend."""
    if cfg.kind == "oracle":
        from .oracle import OracleTeacher
        return OracleTeacher(show_gold=cfg.show_gold)
    raise NotImplementedError(f"teacher.kind = {cfg.kind!r} is not available in this version; use 'oracle'.")


__all__ = ["Teacher", "assemble", "assembled_text", "make_teacher", "PROMPT_VERSION", "revision_messages",
           "full_messages"]
