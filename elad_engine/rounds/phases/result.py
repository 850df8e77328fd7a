"""What a phase returns: how it ended (done, or waiting for reviewers), one line saying what it did, and the tokens
it generated or trained on (with the phase's seconds, its speed)."""

from __future__ import annotations

from dataclasses import dataclass

from ...states import PhaseStatus


@dataclass(frozen=True)
class PhaseResult:
    status: PhaseStatus
    detail: str = ""
    tokens: int | None = None

    @classmethod
    def done(cls, detail: str, tokens: int | None = None) -> PhaseResult:
        return cls(PhaseStatus.DONE, detail, tokens)

    @classmethod
    def waiting(cls, detail: str) -> PhaseResult:
        return cls(PhaseStatus.WAITING, detail)
