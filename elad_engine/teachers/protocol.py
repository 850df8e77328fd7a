"""The teacher protocol: the request and reply records, and what every backend implements (registry.py builds the
configured one).

A backend only sends one request and returns the reply text with its token usage (`send`); caching, the
budget, the ledger, parsing and the repair call are shared by all backends in dispatch.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..method.records import Example
from .prompts import full_messages, revision_messages


@dataclass
class TeacherRequest:
    """One sample for the teacher: a revision of the student's steps, or a full annotation."""

    example: Example
    mode: str  # revision | full
    steps: list[str]  # the student's steps (empty for full)
    answer: str | None  # the student's answer (None for full, or when it gave none)
    messages: list[dict]
    answer_type: str = "number"  # the task's: a reply's answer must be readable as one
    attempt: int = 0  # above 0: asked again after a failed reply, so the request cache is not consulted


@dataclass
class Reply:
    """One chat completion: its text, why it ended, and the tokens the endpoint billed."""

    content: str
    finish_reason: str  # stop | length | ...
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False  # came from the request cache: nothing was paid for it this time
    abandoned: int = 0  # earlier attempts of this call that timed out (a provider may bill them)


class Teacher(Protocol):
    name: str  # the backend: oracle | reference | openai
    model: str  # the model name (ledger, cache key, price)
    concurrency: int  # requests in flight at once
    simulated: bool  # replies computed from the data, not an LLM's (marked so in the ledger, review and exports)

    async def send(self, request: TeacherRequest, messages: list[dict], max_tokens: int) -> Reply:
        """Send `messages` (the request's, or a repair conversation) and return the reply. Raises TeacherError
        when the call failed for good (after retries), TeacherUnavailable when no call can succeed."""

    def worst_prompt_tokens(self, messages: list[dict]) -> int:
        """An upper bound of the prompt tokens the endpoint will bill for `messages` (the budget check)."""

    def params(self, max_tokens: int) -> dict:
        """The sampling parameters that change the reply (part of the cache key)."""

    async def aclose(self) -> None: ...


def build_request(example: Example, mode: str, steps: list[str], answer: str | None, show_gold: bool,
                  answer_type: str = "number", attempt: int = 0) -> TeacherRequest:
    messages = (full_messages(example, show_gold, answer_type) if mode == "full"
                else revision_messages(example, steps, answer, show_gold, answer_type))
    return TeacherRequest(example, mode, [] if mode == "full" else list(steps), answer, messages, answer_type,
                          attempt)
