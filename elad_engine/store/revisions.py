"""Teacher revisions and their review: the revisions of each round, the append-only review log, and the claims
reviewers hold on samples. Only SQL: the voting rules (overlap, conflicts) are in review/decisions.py."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TypedDict

from ..errors import StoreError
from ..method.records import Example, TeacherResult
from ..states import TRAINABLE, UNDECIDED, ReviewAction, RevisionStatus, TeacherOutcome
from .database import Database, from_json, id_list, to_json
from .projects import Examples


class RevisionRow(TypedDict):
    id: int
    project_id: int
    round: int
    example_id: str
    mode: str  # revision | full
    teacher: str
    prompt_version: str | None
    student_text: str | None
    verdicts: list[dict] | None
    first_error: int | None
    revised_steps: list[str] | None
    answer: str | None
    text: str | None  # the assembled explanation (None when the teacher failed)
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    status: RevisionStatus
    raw: str | None
    error: str | None
    final_text: str | None  # what the student learns: the text, or a reviewer's edit
    created_at: float
    replies: list[str] | None  # every raw reply of the teacher for this sample, the first one and any repair


class ReviewRow(TypedDict):
    id: int
    revision_id: int
    action: ReviewAction
    reviewer: str
    edited_text: str | None
    reason: str | None
    created_at: float
    undoes: int | None  # on an undo row: the decision it withdrew


def _statuses(status: str | Iterable[str]) -> list[str]:
    return [status] if isinstance(status, str) else list(status)


class Revisions:
    def __init__(self, database: Database, examples: Examples):
        self.database, self.examples = database, examples

    def save(self, project_id: int, rnd: int, example_id: str, mode: str, teacher: str, result: TeacherResult,
             text: str | None, student_text: str | None, cost_usd: float, prompt_version: str) -> int:
        """Store a teacher revision, pending review (or teacher_failed). Its calls are already in the ledger:
        each was recorded the moment its reply arrived (teachers/dispatch.py)."""
        failed = result.status == TeacherOutcome.FAILED
        status = RevisionStatus.TEACHER_FAILED if failed else RevisionStatus.PENDING
        with self.database.transaction() as db:
            return db["revisions"].insert({
                "project_id": project_id, "round": rnd, "example_id": example_id, "mode": mode, "teacher": teacher,
                "prompt_version": prompt_version, "student_text": student_text,
                "verdicts": to_json([{"correct": v.correct, "reason": v.reason} for v in result.verdicts]),
                "first_error": result.first_error, "revised_steps": to_json(result.revised_steps),
                "answer": result.answer, "text": text, "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens, "cost_usd": cost_usd, "status": status,
                "raw": result.raw, "error": result.error, "final_text": None, "created_at": time.time(),
                "replies": to_json(result.replies or ([result.raw] if result.raw else []))}, replace=True).last_pk

    def replace_reply(self, revision_id: int, result: TeacherResult, text: str | None) -> RevisionStatus:
        """A new teacher reply for a revision asked again: its fields replaced, its tokens and cost added, every
        raw reply kept in order. Returns its new status (pending, or teacher_failed again)."""
        rev = self.get(revision_id)
        failed = result.status == TeacherOutcome.FAILED or text is None
        status = RevisionStatus.TEACHER_FAILED if failed else RevisionStatus.PENDING
        with self.database.transaction():
            self.database.execute(
                "UPDATE revisions SET verdicts=?, first_error=?, revised_steps=?, answer=?, text=?, prompt_tokens=?, "
                "completion_tokens=?, cost_usd=?, status=?, raw=?, error=?, replies=? WHERE id=?",
                [to_json([{"correct": v.correct, "reason": v.reason} for v in result.verdicts]), result.first_error,
                 to_json(result.revised_steps), result.answer, text,
                 (rev["prompt_tokens"] or 0) + result.prompt_tokens,
                 (rev["completion_tokens"] or 0) + result.completion_tokens,
                 (rev["cost_usd"] or 0) + result.cost_usd, status, result.raw, result.error,
                 to_json((rev["replies"] or []) + (result.replies or [])), revision_id])
        return status

    def list(self, project_id: int, rnd: int | None = None, status: str | Iterable[str] | None = None,
             ids: Iterable[int] | None = None) -> list[RevisionRow]:
        sql, args = "SELECT * FROM revisions WHERE project_id = ?", [project_id]
        if rnd is not None:
            sql, args = sql + " AND round = ?", [*args, rnd]
        if status is not None:
            sql, args = sql + " AND status IN (SELECT value FROM json_each(?))", [*args, id_list(_statuses(status))]
        if ids is not None:
            sql, args = sql + " AND id IN (SELECT value FROM json_each(?))", [*args, id_list(ids)]
        return [self._row(r) for r in self.database.query(sql + " ORDER BY id", args)]

    def first_errors(self, project_id: int) -> list[tuple[int, int, int, int]]:
        """(round, first wrong step, steps judged, revisions) of the revisions (not failed) that found an error."""
        return self.database.execute(
            "SELECT round, first_error, coalesce(json_array_length(verdicts), 0), count(*) FROM revisions WHERE "
            "project_id = ? AND mode = 'revision' AND first_error IS NOT NULL AND status != ? GROUP BY 1, 2, 3 "
            "ORDER BY 1, 2, 3", [project_id, RevisionStatus.TEACHER_FAILED]).fetchall()

    def get(self, revision_id: int) -> RevisionRow:
        rows = self.database.query("SELECT * FROM revisions WHERE id = ?", [revision_id])
        if not rows:
            raise StoreError(f"No revision with id {revision_id}.")
        return self._row(rows[0])

    @staticmethod
    def _row(r: dict) -> RevisionRow:
        return dict(r, status=RevisionStatus(r["status"]), verdicts=from_json(r["verdicts"]),
                    revised_steps=from_json(r["revised_steps"]), replies=from_json(r.get("replies")))

    def count(self, project_id: int, rnd: int | None = None, status: str | Iterable[str] | None = None) -> int:
        sql, args = "SELECT count(*) FROM revisions WHERE project_id = ?", [project_id]
        if rnd is not None:
            sql, args = sql + " AND round = ?", [*args, rnd]
        if status is not None:
            sql, args = sql + " AND status IN (SELECT value FROM json_each(?))", [*args, id_list(_statuses(status))]
        return self.database.execute(sql, args).fetchone()[0]

    def status_counts(self, project_id: int, rnd: int) -> dict[str, int]:
        return {r[0]: r[1] for r in self.database.execute(
            "SELECT status, count(*) FROM revisions WHERE project_id=? AND round=? GROUP BY status", [project_id, rnd])}

    def rounds(self, project_id: int) -> list[int]:
        """The rounds that have revisions, in order."""
        return [r[0] for r in self.database.execute(
            "SELECT DISTINCT round FROM revisions WHERE project_id=? ORDER BY round", [project_id])]

    def example_ids(self, project_id: int, rnd: int) -> set[str]:
        return {r[0] for r in self.database.execute(
            "SELECT example_id FROM revisions WHERE project_id=? AND round=?", [project_id, rnd])}

    def training_samples(self, project_id: int, up_to_round: int) -> list[tuple[Example, str]]:
        """Every approved or edited revision of rounds <= up_to_round, with its final text."""
        rows = self.database.query(
            "SELECT example_id, final_text FROM revisions WHERE project_id=? AND round<=? AND status IN "
            "(SELECT value FROM json_each(?)) ORDER BY round, example_id",  # not by arrival: teacher replies arrive
            [project_id, up_to_round, id_list(sorted(TRAINABLE))])  # in any order, training needs one sequence
        by_id = {e.id: e for e in self.examples.list(project_id, ids=[r["example_id"] for r in rows])}
        return [(by_id[r["example_id"]], r["final_text"]) for r in rows]

    def training_teachers(self, project_id: int, up_to_round: int) -> dict[str, str]:
        """example id -> the teacher (oracle, reference, openai) of its approved or edited revision, rounds <= N."""
        return {r["example_id"]: r["teacher"] for r in self.database.query(
            "SELECT example_id, teacher FROM revisions WHERE project_id=? AND round<=? AND status IN "
            "(SELECT value FROM json_each(?)) ORDER BY round", [project_id, up_to_round, id_list(sorted(TRAINABLE))])}


UNDO = "undo"  # the action of a review-log row that withdraws an earlier decision (named in its `undoes`)
EFFECTIVE = (f"AND r.action != '{UNDO}' AND r.id NOT IN (SELECT undoes FROM reviews WHERE undoes IS NOT NULL)")


class Reviews:
    """The append-only review log (triggers refuse updates and deletes) and the status each decision sets."""

    def __init__(self, database: Database):
        self.database = database

    def append(self, revision_id: int, action: ReviewAction | str, reviewer: str, edited_text: str | None,
               reason: str | None, status: RevisionStatus, final_text: str | None, undoes: int | None = None) -> None:
        """Log one decision (or an undo of one), set the revision's status and final text, and free its claim, in
        one transaction."""
        with self.database.transaction() as db:
            db["reviews"].insert({"revision_id": revision_id, "action": action, "reviewer": reviewer,
                                  "edited_text": edited_text, "reason": reason, "created_at": time.time(),
                                  "undoes": undoes})
            self.database.execute("UPDATE revisions SET status = ?, final_text = ? WHERE id = ?",
                                  [status, final_text, revision_id])
            self.database.execute("DELETE FROM review_claims WHERE revision_id=?", [revision_id])

    def list(self, revision_id: int, effective: bool = True) -> list[ReviewRow]:
        """The revision's decisions in order; effective: without undo rows and the decisions they withdrew."""
        return self.database.query(f"SELECT * FROM reviews r WHERE revision_id = ? {EFFECTIVE if effective else ''} "
                                   "ORDER BY id", [revision_id])

    def of_project(self, project_id: int, rnd: int | None = None, effective: bool = True) -> list[ReviewRow]:
        """The project's decisions (of one round) in log order."""
        where, args = ("AND v.round = ?", [rnd]) if rnd is not None else ("", [])
        return self.database.query("SELECT r.* FROM reviews r JOIN revisions v ON v.id = r.revision_id "
                                   f"WHERE v.project_id = ? {where} {EFFECTIVE if effective else ''} ORDER BY r.id",
                                   [project_id, *args])

    def last_by(self, project_id: int, rnd: int, reviewer: str) -> ReviewRow | None:
        """`reviewer`'s latest effective decision in the round."""
        rows = self.database.query("SELECT r.* FROM reviews r JOIN revisions v ON v.id = r.revision_id WHERE "
                                   f"v.project_id = ? AND v.round = ? AND r.reviewer = ? {EFFECTIVE} "
                                   "ORDER BY r.id DESC LIMIT 1", [project_id, rnd, reviewer])
        return rows[0] if rows else None


class Claims:
    """Who is looking at which sample: a claim keeps a sample from being handed to a second reviewer."""

    def __init__(self, database: Database):
        self.database = database

    def claim(self, candidates: list[int], reviewer: str, ttl_s: float) -> int | None:
        """The first of `candidates` (queue order) that is undecided and claimed by nobody else, now claimed
        by `reviewer` for ttl_s seconds; None when there is none. Atomic across processes."""
        now = time.time()
        with self.database.transaction():
            self.database.execute("DELETE FROM review_claims WHERE expires_at <= ?", [now])
            others = {r[0] for r in self.database.execute(
                "SELECT revision_id FROM review_claims WHERE reviewer != ?", [reviewer])}
            for rid in candidates:
                row = self.database.execute("SELECT status FROM revisions WHERE id=?", [rid]).fetchone()
                if rid in others or not row or row[0] not in UNDECIDED:
                    continue
                self.database.execute("INSERT OR REPLACE INTO review_claims VALUES (?, ?, ?)",
                                      [rid, reviewer, now + ttl_s])
                return rid
        return None

    def held_by_others(self, reviewer: str) -> dict[int, str]:
        """revision id -> reviewer, for the live claims of everyone but `reviewer`."""
        return {r[0]: r[1] for r in self.database.execute(
            "SELECT revision_id, reviewer FROM review_claims WHERE reviewer != ? AND expires_at > ?",
            [reviewer, time.time()])}

    def of_round(self, project_id: int, rnd: int) -> list[dict]:
        """The live claims on the round's undecided revisions: revision_id, example_id, reviewer, expires_at."""
        marks = ",".join("?" * len(UNDECIDED))
        return self.database.query(
            "SELECT c.revision_id, r.example_id, c.reviewer, c.expires_at FROM review_claims c "
            f"JOIN revisions r ON r.id = c.revision_id WHERE r.project_id = ? AND r.round = ? AND c.expires_at > ? "
            f"AND r.status IN ({marks}) ORDER BY c.reviewer, c.revision_id",
            [project_id, rnd, time.time(), *UNDECIDED])

    def release(self, revision_ids: list[int]) -> int:
        """Drop these claims (an admin frees samples a closed tab still holds); the number dropped."""
        with self.database.transaction():
            return sum(self.database.execute("DELETE FROM review_claims WHERE revision_id = ?", [i]).rowcount
                       for i in revision_ids)

    def holder(self, revision_id: int) -> str | None:
        row = self.database.execute("SELECT reviewer FROM review_claims WHERE revision_id=? AND expires_at>?",
                                    [revision_id, time.time()]).fetchone()
        return row[0] if row else None
