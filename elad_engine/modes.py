"""The modes a project's config chooses between, as enums (each is also its string, so TOML and stored configs read
as before): which teacher backend, and the fit check's refusals by the name an override gives. Stored statuses are
in states.py."""

from __future__ import annotations

from enum import StrEnum


class TeacherKind(StrEnum):
    """The teacher backends (teacher.kind)."""

    ORACLE = "oracle"  # the embedded task's exact arithmetic oracle (the demo)
    REFERENCE = "reference"  # reference solutions from the data: a simulated teacher for dry runs
    OPENAI = "openai"  # any OpenAI-compatible endpoint: a real LLM teacher

    @property
    def simulated(self) -> bool:
        """Replies computed from the data, not written by an LLM: priced as `price_as`, marked as simulated."""
        return self != TeacherKind.OPENAI

    @classmethod
    def simulated_name(cls, name: str | None) -> bool:
        """Whether a stored teacher name (a revision's, a ledger row's) is a simulated teacher's."""
        return name in {k.value for k in cls if k.simulated}

    @property
    def words(self) -> str:
        return {TeacherKind.ORACLE: "the exact arithmetic oracle of the embedded task (no endpoint, no cost)",
                TeacherKind.REFERENCE: "reference solutions from the data: a simulated teacher, no cost",
                TeacherKind.OPENAI: "an OpenAI-compatible endpoint (an LLM teacher)"}[self]


class Misfit(StrEnum):
    """The fit check's refusals (rounds/fit_check.py), by the name rounds.allow_misfit gives to override one."""

    NO_STUDENT = "no-student"
    NO_TEST_SPLIT = "no-test-split"
    DEMO_STUDENT = "demo-student"
    UNREADABLE = "unreadable-text"
    ORACLE_WITHOUT_CHAINS = "oracle-without-chains"
    ANSWERS_ONLY = "answers-only"
    NO_EXEMPLARS = "no-exemplars"
