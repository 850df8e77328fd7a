"""The student's work on the pool each round: its explanations (with probes and token statistics), the
uncertainty scores a strategy gave each question, and the selection sent to the teacher."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from ..method.records import Explanation
from ..states import SelectionStatus
from .database import Database, from_json, id_list, to_json


class ScoreRow(TypedDict):
    project_id: int
    round: int
    example_id: str
    strategy: str
    score: float
    components: dict


class SelectionRow(TypedDict):
    project_id: int
    round: int
    example_id: str
    rank: int
    strategy: str
    score: float | None
    status: SelectionStatus


class Explanations:
    def __init__(self, database: Database):
        self.database = database

    def save(self, project_id: int, rnd: int, explanations: list[Explanation]) -> None:
        with self.database.transaction() as db:
            db["explanations"].upsert_all(({
                "project_id": project_id, "round": rnd, "example_id": x.example_id, "kind": x.kind,
                "sample_idx": x.sample_idx, "text": x.text, "steps": to_json(x.steps), "answer": x.answer,
                "probe_answers": to_json(x.probe_answers), "probe_probs": to_json(x.probe_probs),
                "answer_entropy": x.answer_entropy, "mean_nll": x.mean_nll} for x in explanations),
                pk=("project_id", "round", "example_id", "kind", "sample_idx"))

    def list(self, project_id: int, rnd: int, ids: Iterable[str] | None = None,
             kind: str | None = None) -> list[Explanation]:
        """The round's explanations by example, greedy first; `ids` and `kind` filter in SQL."""
        sql, args = "SELECT * FROM explanations WHERE project_id=? AND round=?", [project_id, rnd]
        if ids is not None:
            sql, args = sql + " AND example_id IN (SELECT value FROM json_each(?))", [*args, id_list(ids)]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        return [Explanation(example_id=r["example_id"], kind=r["kind"], sample_idx=r["sample_idx"], text=r["text"],
                            steps=from_json(r["steps"]), answer=r["answer"],
                            probe_answers=from_json(r["probe_answers"]), probe_probs=from_json(r["probe_probs"]),
                            answer_entropy=r["answer_entropy"], mean_nll=r["mean_nll"])
                for r in self.database.query(sql + " ORDER BY example_id, kind, sample_idx", args)]

    def explained_ids(self, project_id: int, rnd: int) -> set[str]:
        return {r[0] for r in self.database.execute(
            "SELECT DISTINCT example_id FROM explanations WHERE project_id=? AND round=?", [project_id, rnd])}


class Scores:
    def __init__(self, database: Database):
        self.database = database

    def save(self, project_id: int, rnd: int, strategy: str, rows: dict[str, tuple[float, dict]]) -> None:
        with self.database.transaction() as db:
            db["scores"].upsert_all(({"project_id": project_id, "round": rnd, "example_id": i, "strategy": strategy,
                                      "score": s, "components": to_json(c)} for i, (s, c) in rows.items()),
                                    pk=("project_id", "round", "example_id", "strategy"))

    def list(self, project_id: int, rnd: int | None = None, example_id: str | None = None) -> list[ScoreRow]:
        sql, args = "SELECT * FROM scores WHERE project_id = ?", [project_id]
        if rnd is not None:
            sql, args = sql + " AND round = ?", [*args, rnd]
        if example_id is not None:
            sql, args = sql + " AND example_id = ?", [*args, example_id]
        return [dict(r, components=from_json(r["components"])) for r in self.database.query(sql, args)]


    def histogram(self, project_id: int, strategy: str, bins: int) -> list[dict]:
        """Counts of the strategy's scores (rounds after 0) per round, selected or not, and equal-width bin."""
        lo, hi = self.database.execute("SELECT min(score), max(score) FROM scores WHERE project_id=? AND strategy=? "
                                       "AND round > 0", [project_id, strategy]).fetchone()
        if lo is None:
            return []
        width = (hi - lo) / bins or 1.0
        rows = self.database.query(
            "SELECT s.round AS round, CASE WHEN c.example_id IS NULL THEN 'not selected' ELSE 'selected' END AS "
            "selected, min(CAST((s.score - ?) / ? AS INTEGER), ?) AS bin, count(*) AS samples FROM scores s "
            "LEFT JOIN selections c ON c.project_id = s.project_id AND c.round = s.round AND c.example_id = "
            "s.example_id WHERE s.project_id = ? AND s.strategy = ? AND s.round > 0 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [lo, width, bins - 1, project_id, strategy])
        return [{"round": r["round"], "selected": r["selected"], "start": lo + r["bin"] * width,
                 "end": lo + (r["bin"] + 1) * width, "samples": r["samples"]} for r in rows]

    def of_revisions(self, project_id: int, rnd: int | None,
                     strategies: tuple[str, ...]) -> dict[tuple[int, str], float]:
        """{(round, example id): score} of the revised samples only (the review queue's uncertainty column)."""
        where, args = ("AND v.round = ?", [rnd]) if rnd is not None else ("", [])
        rows = self.database.execute(
            "SELECT s.round, s.example_id, s.score, s.strategy FROM revisions v JOIN scores s ON s.project_id = "
            "v.project_id AND s.round = v.round AND s.example_id = v.example_id WHERE v.project_id = ? "
            f"{where} AND s.strategy IN (SELECT value FROM json_each(?))", [project_id, *args, id_list(strategies)])
        out: dict[tuple[int, str], float] = {}
        for r, example_id, score, strategy in rows:  # the first strategy listed wins where both exist
            if (r, example_id) not in out or strategy == strategies[0]:
                out[r, example_id] = score
        return out


class Selections:
    def __init__(self, database: Database):
        self.database = database

    def save(self, project_id: int, rnd: int, strategy: str, chosen: list[tuple[str, float | None]]) -> None:
        with self.database.transaction() as db:
            db["selections"].insert_all(({"project_id": project_id, "round": rnd, "example_id": i, "rank": k,
                                          "strategy": strategy, "score": s, "status": SelectionStatus.SELECTED}
                                         for k, (i, s) in enumerate(chosen, 1)), replace=True)

    def list(self, project_id: int, rnd: int) -> list[SelectionRow]:
        return self.database.query("SELECT * FROM selections WHERE project_id=? AND round=? ORDER BY rank",
                                   [project_id, rnd])

    def set_status(self, project_id: int, rnd: int, example_ids: list[str], status: SelectionStatus) -> None:
        with self.database.transaction():
            self.database.execute("UPDATE selections SET status=? WHERE project_id=? AND round=? AND example_id IN "
                                  "(SELECT value FROM json_each(?))", [status, project_id, rnd, id_list(example_ids)])

    def count(self, project_id: int, rnd: int, status: SelectionStatus) -> int:
        return self.database.execute("SELECT count(*) FROM selections WHERE project_id=? AND round=? AND status=?",
                                     [project_id, rnd, status]).fetchone()[0]

    def total(self, project_id: int) -> int:
        return self.database.execute("SELECT count(*) FROM selections WHERE project_id = ?", [project_id]).fetchone()[0]

    def labelled_ids(self, project_id: int) -> set[str]:
        """Pool examples selected in any round leave the unlabeled pool, except those the budget stopped
        before the teacher saw them: they go back to the pool."""
        return {r[0] for r in self.database.execute(
            "SELECT example_id FROM selections WHERE project_id = ? AND status != ?",
            [project_id, SelectionStatus.OVER_BUDGET]).fetchall()}
