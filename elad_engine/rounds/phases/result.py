"""What a phase returns: how it ended (done, or waiting for reviewers) and one line saying what it did."""

from __future__ import annotations

from dataclasses import dataclass

from ...states import PhaseStatus


@dataclass(frozen=True)
class PhaseResult:
    status: PhaseStatus
    detail: str = ""

    @classmethod
    def done(cls, detail: str) -> PhaseResult:
        return cls(PhaseStatus.DONE, detail)

    @classmethod
    def waiting(cls, detail: str) -> PhaseResult:
        return cls(PhaseStatus.WAITING, detail)
