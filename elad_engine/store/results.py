"""What each round produced: its training run (checkpoint, loss curve) and its metrics row (accuracy against
teacher cost). Checkpoints are stored relative to the workspace, so a moved workspace still finds them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, TypedDict

from .database import Database, from_json, to_json


class TrainingRunRow(TypedDict):
    project_id: int
    round: int
    method: str
    samples: int
    steps: int | None
    tokens: int | None
    seconds: float | None
    final_loss: float | None
    losses: list[float] | None
    checkpoint: str | None  # absolute, as read back
    checkpoint_sha256: str | None  # of the folder as published (student/checkpoint.py); None before checksums
    base_model: str | None  # the base student: a hub id@commit, or the student.path as resolved
    dtype: str | None  # the weights' dtype while training (float32, bfloat16); None before schema 11


class MetricsRow(TypedDict, total=False):
    project_id: int
    round: int
    accuracy: float | None
    base_accuracy: float | None
    by_difficulty: dict | None
    test_size: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    approved: int | None
    edited: int | None
    rejected: int | None
    teacher_failed: int | None
    phase_seconds: dict | None
    created_at: float
    format_ok: float | None  # share of the evaluation's explanations that parse into steps and an answer
    base_format_ok: float | None  # the same for the starting student (round 0, before any training)
    pool_format_ok: float | None  # the same for the explain phase's greedy explanations of the pool
    correct: list[str] | None  # the test ids answered right (paired comparisons between projects and seeds)


class TrainingRuns:
    def __init__(self, database: Database):
        self.database = database

    def save(self, project_id: int, rnd: int, **row: Any) -> None:
        row["losses"] = to_json(row.get("losses"))
        if row.get("checkpoint"):  # relative, so the workspace can move and be opened from anywhere
            row["checkpoint"] = os.path.relpath(Path(row["checkpoint"]).resolve(), self.database.workspace)
        with self.database.transaction() as db:
            db["training_runs"].insert(dict(project_id=project_id, round=rnd, **row), replace=True)

    def get(self, project_id: int, rnd: int) -> TrainingRunRow | None:
        rows = self.database.query("SELECT * FROM training_runs WHERE project_id=? AND round=?", [project_id, rnd])
        return self._row(rows[0]) if rows else None

    def list(self, project_id: int) -> list[TrainingRunRow]:
        return [self._row(r) for r in self.database.query(
            "SELECT * FROM training_runs WHERE project_id=? ORDER BY round", [project_id])]

    def _row(self, row: dict) -> TrainingRunRow:
        ckpt = str(self.database.workspace / row["checkpoint"]) if row["checkpoint"] else None
        return dict(row, losses=from_json(row["losses"]), checkpoint=ckpt)

    def start_losses(self, project_id: int, rnd: int) -> None:
        """A training run of the round begins: the live loss log starts empty."""
        with self.database.transaction():
            self.database.execute("DELETE FROM training_losses WHERE project_id=? AND round=?", [project_id, rnd])

    def add_losses(self, project_id: int, rnd: int, steps: list[tuple[int, float]]) -> None:
        with self.database.transaction():
            self.database.db.conn.executemany(
                "INSERT OR REPLACE INTO training_losses VALUES (?, ?, ?, ?)",
                [(project_id, rnd, step, loss) for step, loss in steps])

    def live_losses(self, project_id: int, rnd: int | None = None) -> list[dict]:
        """{round, step, loss} as training wrote them (every round, or one)."""
        where, args = ("AND round=?", [project_id, rnd]) if rnd is not None else ("", [project_id])
        return self.database.query(f"SELECT round, step, loss FROM training_losses WHERE project_id=? {where} "
                                   "ORDER BY round, step", args)

    def latest_checkpoint(self, project_id: int, before_round: int) -> tuple[str, str, str | None, int] | None:
        """(checkpoint folder, training method, its recorded sha256, round) of the latest trained round before
        `before_round`."""
        row = self.database.execute(
            "SELECT checkpoint, method, checkpoint_sha256, round FROM training_runs WHERE project_id=? AND round<? "
            "AND checkpoint IS NOT NULL ORDER BY round DESC LIMIT 1", [project_id, before_round]).fetchone()
        return (str(self.database.workspace / row[0]), row[1], row[2], row[3]) if row else None


class Metrics:
    def __init__(self, database: Database):
        self.database = database

    def save(self, project_id: int, rnd: int, **row: Any) -> None:
        """Set these columns of the round's metrics row (created when missing); the other columns keep their values,
        so phases can each write theirs."""
        for key in ("by_difficulty", "phase_seconds", "correct"):
            if key in row:
                row[key] = to_json(row[key])
        with self.database.transaction() as db:
            db["metrics"].upsert(dict(project_id=project_id, round=rnd, created_at=time.time(), **row),
                                 pk=("project_id", "round"))

    def set_phase_seconds(self, project_id: int, rnd: int, seconds: dict[str, float]) -> None:
        with self.database.transaction():
            self.database.execute("UPDATE metrics SET phase_seconds = ? WHERE project_id = ? AND round = ?",
                                  [to_json(seconds), project_id, rnd])

    def list(self, project_id: int) -> list[MetricsRow]:
        return [dict(r, by_difficulty=from_json(r["by_difficulty"]), phase_seconds=from_json(r["phase_seconds"]),
                     correct=from_json(r.get("correct")))
                for r in self.database.query("SELECT * FROM metrics WHERE project_id=? ORDER BY round", [project_id])]

    def of_round(self, project_id: int, rnd: int) -> MetricsRow | None:
        return next((m for m in self.list(project_id) if m["round"] == rnd), None)
