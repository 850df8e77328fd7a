"""Rounds and their phases: when each round started and finished, and how each phase ended."""

from __future__ import annotations

import time
from typing import TypedDict

from ..states import Phase, PhaseStatus, RoundStatus
from .database import Database


class RoundRow(TypedDict):
    project_id: int
    round: int
    status: RoundStatus
    stop_reason: str | None
    started_at: float | None
    finished_at: float | None


class PhaseRow(TypedDict):
    project_id: int
    round: int
    phase: Phase
    status: PhaseStatus
    seconds: float | None
    detail: str | None
    finished_at: float | None
    tokens: int | None  # tokens the phase generated or trained on (its speed: tokens / seconds)


class Rounds:
    def __init__(self, database: Database):
        self.database = database

    def start(self, project_id: int, rnd: int) -> None:
        with self.database.transaction():
            self.database.execute("INSERT OR IGNORE INTO rounds (project_id, round, status, started_at) "
                                  "VALUES (?,?,?,?)", [project_id, rnd, RoundStatus.RUNNING, time.time()])

    def finish(self, project_id: int, rnd: int, stop_reason: str | None = None) -> None:
        with self.database.transaction():
            self.database.execute("UPDATE rounds SET status=?, stop_reason=?, finished_at=? WHERE project_id=? AND "
                                  "round=?", [RoundStatus.DONE, stop_reason, time.time(), project_id, rnd])

    def list(self, project_id: int) -> list[RoundRow]:
        return self.database.query("SELECT * FROM rounds WHERE project_id = ? ORDER BY round", [project_id])

    def done(self, project_id: int) -> list[int]:
        """The finished rounds, in order."""
        return [r[0] for r in self.database.execute(
            "SELECT round FROM rounds WHERE project_id = ? AND status = ? ORDER BY round",
            [project_id, RoundStatus.DONE]).fetchall()]

    def started(self, project_id: int, rnd: int) -> bool:
        return self.database.execute("SELECT 1 FROM rounds WHERE project_id=? AND round=?",
                                     [project_id, rnd]).fetchone() is not None


class Phases:
    def __init__(self, database: Database):
        self.database = database

    def status(self, project_id: int, rnd: int, phase: Phase) -> PhaseStatus | None:
        row = self.database.execute("SELECT status FROM phases WHERE project_id=? AND round=? AND phase=?",
                                    [project_id, rnd, phase]).fetchone()
        return PhaseStatus(row[0]) if row else None

    def set(self, project_id: int, rnd: int, phase: Phase, status: PhaseStatus, seconds: float | None = None,
            detail: str | None = None, tokens: int | None = None) -> None:
        with self.database.transaction():
            self.database.execute("INSERT OR REPLACE INTO phases (project_id, round, phase, status, seconds, detail, "
                                  "finished_at, tokens) VALUES (?,?,?,?,?,?,?,?)",
                                  [project_id, rnd, phase, status, seconds, detail, time.time(), tokens])

    def version(self, project_id: int) -> float:
        """When the project's latest phase ended: changes whenever a phase's results are in."""
        return self.database.execute("SELECT coalesce(max(finished_at), 0) FROM phases WHERE project_id = ?",
                                     [project_id]).fetchone()[0]

    def list(self, project_id: int, rnd: int | None = None) -> list[PhaseRow]:
        sql, args = "SELECT * FROM phases WHERE project_id = ?", [project_id]
        if rnd is not None:
            sql, args = sql + " AND round = ?", [*args, rnd]
        return self.database.query(sql + " ORDER BY round, finished_at", args)
