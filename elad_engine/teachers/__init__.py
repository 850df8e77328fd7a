"""Teachers: the request and reply records, the protocol every backend implements, the registry, and the
assembly of a revision into a training explanation.

A backend only sends one request and returns the reply text with its token usage (`send`); caching, the
budget, the ledger, parsing and the repair call are shared by all backends in dispatch.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..config import TeacherConfig
from ..reasoning import format_explanation
from ..records import Example, TeacherResult
from .prompts import PROMPT_VERSION, full_messages, revision_messages


@dataclass
class TeacherRequest:
    """One sample for the teacher: a revision of the student's steps, or a full annotation."""

    example: Example
    mode: str  # revision | full
    steps: list[str]  # the student's steps (empty for full)
    answer: str | None  # the student's answer (None for full, or when it gave none)
    messages: list[dict]


@dataclass
class Reply:
    """One chat completion: its text, why it ended, and the tokens the endpoint billed."""

    content: str
    finish_reason: str  # stop | length | ...
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False  # came from the request cache: nothing was paid for it this time


class Teacher(Protocol):
    name: str  # the backend: oracle | openai
    model: str  # the model name (ledger, cache key, price)
    concurrency: int  # requests in flight at once

    async def send(self, request: TeacherRequest, messages: list[dict], max_tokens: int) -> Reply:
        """Send `messages` (the request's, or a repair conversation) and return the reply. Raises TeacherError
        when the call failed for good (after retries), TeacherUnavailable when no call can succeed."""

    def worst_prompt_tokens(self, messages: list[dict]) -> int:
        """An upper bound of the prompt tokens the endpoint will bill for `messages` (the budget check)."""

    def params(self, max_tokens: int) -> dict:
        """The sampling parameters that change the reply (part of the cache key)."""

    async def aclose(self) -> None: ...


def build_request(example: Example, mode: str, steps: list[str], answer: str | None, show_gold: bool) -> TeacherRequest:
    messages = (full_messages(example, show_gold) if mode == "full"
                else revision_messages(example, steps, answer, show_gold))
    return TeacherRequest(example, mode, [] if mode == "full" else list(steps), answer, messages)


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
    from .openai_compat import OpenAICompatTeacher
    return OpenAICompatTeacher(cfg)


__all__ = ["Teacher", "TeacherRequest", "Reply", "build_request", "assemble", "assembled_text", "make_teacher",
           "PROMPT_VERSION", "revision_messages", "full_messages"]
