"""The workspace database: with store_jobs.py (the job queue) and store_people.py (accounts, review claims),
mixed into Store, the only code that touches SQLite (sqlite-utils, WAL mode); the tables are in schema.sql.

A workspace is a folder holding `elad.db` and `artifacts/` (checkpoints, exports). Open it with
`Store(workspace_dir)`; every multi-row write is one transaction, so a crash leaves nothing half-done.
"""

from __future__ import annotations

import contextlib
import re
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from .config import ProjectConfig
from .errors import DatasetError, StoreError
from .records import Example, Explanation, TeacherResult
from .migrations import MIGRATIONS  # SQL data, kept out of the logic
from .store_jobs import JobQueue, _j, _l
from .store_people import PeopleTables

SCHEMA_VERSION = 5
DECIDED = ("approved", "edited", "rejected")
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TRAINABLE = ("approved", "edited")

SCHEMA = (Path(__file__).with_name("schema.sql")).read_text(encoding="utf-8")  # version SCHEMA_VERSION



def _statements(script: str) -> list[str]:
    """Split a SQL script into statements (executescript would commit the open transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


class Store(JobQueue, PeopleTables):
    """One workspace: its SQLite database plus the artifacts folder."""

    def __init__(self, workspace: str | Path):
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.path = self.workspace / "elad.db"
        conn = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA busy_timeout = 60000")
        self.db.enable_wal()
        # In WAL mode NORMAL still survives a killed process (only a power cut can lose the last commits), and
        # it makes each commit an append instead of an fsync: the teacher ledger commits once per call.
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction (nested calls join it). BEGIN IMMEDIATE takes the write lock up front, so a
        read-then-write never fails on a stale WAL snapshot; busy_timeout makes other writers wait."""
        with self._lock:
            if self.db.conn.in_transaction:
                with self.db.atomic():  # a savepoint inside the open transaction
                    yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.rollback()
                raise
            self.db.execute("COMMIT")

    @property
    def artifacts(self) -> Path:
        return self.workspace / "artifacts"

    def _migrate(self) -> None:
        row = None
        if "meta" in self.db.table_names():
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row and int(row[0]) == SCHEMA_VERSION:
            return  # the common case: nothing to write, so opening never contends for the write lock
        with self.transaction():
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {version}, newer than this ELAD Studio "
                                 f"({SCHEMA_VERSION}); upgrade the software before opening it.")
            if version == 0:
                for statement in _statements(SCHEMA):
                    self.db.execute(statement)
                version = SCHEMA_VERSION
            while version < SCHEMA_VERSION:
                for statement in _statements(MIGRATIONS[version]):
                    self.db.execute(statement)
                version += 1
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])

    def schema_version(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # --- projects ----------------------------------------------------------------------------------

    def create_project(self, name: str, config: ProjectConfig) -> int:
        if not PROJECT_NAME.match(name or ""):  # it becomes a folder name under artifacts/
            raise StoreError(f"project name {name!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-', "
                             "starting with a letter or digit.")
        if self.find_project(name) is not None:
            raise StoreError(f"A project named {name!r} already exists in {self.workspace}.")
        config.validate().check_files()
        with self.transaction():
            return self.db["projects"].insert(
                {"name": name, "config": config.to_toml(), "created_at": time.time()}).last_pk

    def find_project(self, name: str) -> int | None:
        row = self.db.execute("SELECT id FROM projects WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def project_id(self, name: str) -> int:
        pid = self.find_project(name)
        if pid is None:
            names = ", ".join(p["name"] for p in self.projects()) or "none yet"
            raise StoreError(f"No project named {name!r} in {self.workspace} (projects: {names}).")
        return pid

    def projects(self) -> list[dict]:
        return list(self.db.query("SELECT id, name, created_at FROM projects ORDER BY id"))

    def project_name(self, pid: int) -> str:
        return self.db.execute("SELECT name FROM projects WHERE id = ?", [pid]).fetchone()[0]

    def config(self, pid: int) -> ProjectConfig:
        row = self.db.execute("SELECT config FROM projects WHERE id = ?", [pid]).fetchone()
        if row is None:
            raise StoreError(f"No project with id {pid}.")
        return ProjectConfig.from_toml(row[0], f"project {pid} config")

    def set_config(self, pid: int, config: ProjectConfig) -> None:
        config.validate().check_files()
        with self.transaction():
            self.db.execute("UPDATE projects SET config = ? WHERE id = ?", [config.to_toml(), pid])

    # --- examples ----------------------------------------------------------------------------------

    def add_examples(self, pid: int, examples: list[Example], source: str) -> int:
        """Insert all examples or none: an id already in the project refuses the whole import."""
        ids = [e.id for e in examples]
        clash = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            clash += [r[0] for r in self.db.execute(
                f"SELECT id FROM examples WHERE project_id = ? AND id IN ({','.join('?' * len(chunk))})",
                [pid, *chunk]).fetchall()]
        if clash:
            raise DatasetError(f"{source}: {len(clash)} ids already exist in project "
                               f"{self.project_name(pid)!r} (first: {clash[0]!r}); nothing was imported.")
        with self.transaction():
            import_id = self.db["imports"].insert(
                {"project_id": pid, "source": source, "rows": len(examples), "created_at": time.time()}).last_pk
            self.db["examples"].insert_all(({
                "project_id": pid, "id": e.id, "split": e.split, "question": e.question, "answer": e.answer,
                "rationale": e.rationale, "choices": _j(e.choices), "difficulty": e.difficulty,
                "meta": _j(e.meta), "import_id": import_id} for e in examples), batch_size=500)
        return len(examples)

    def examples(self, pid: int, split: str | None = None, ids: Iterable[str] | None = None) -> list[Example]:
        sql, args = "SELECT * FROM examples WHERE project_id = ?", [pid]
        if split:
            sql += " AND split = ?"
            args.append(split)
        rows = [self._example(r) for r in self.db.query(sql + " ORDER BY rowid", args)]
        if ids is not None:
            by_id = {e.id: e for e in rows}
            return [by_id[i] for i in ids if i in by_id]
        return rows

    @staticmethod
    def _example(r: dict) -> Example:
        return Example(id=r["id"], question=r["question"], answer=r["answer"], split=r["split"],
                       rationale=r["rationale"], choices=_l(r["choices"]), difficulty=r["difficulty"],
                       meta=_l(r["meta"]) or {})

    def count_examples(self, pid: int) -> dict[str, int]:
        return {r["split"]: r["n"] for r in self.db.query(
            "SELECT split, count(*) AS n FROM examples WHERE project_id = ? GROUP BY split", [pid])}

    def labelled_ids(self, pid: int) -> set[str]:
        """Pool examples selected in any round leave the unlabeled pool, except those the budget stopped
        before the teacher saw them: they go back to the pool."""
        return {r[0] for r in self.db.execute(
            "SELECT example_id FROM selections WHERE project_id = ? AND status != 'over_budget'", [pid]).fetchall()}

    # --- rounds and phases -------------------------------------------------------------------------

    def start_round(self, pid: int, rnd: int) -> None:
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO rounds (project_id, round, status, started_at) VALUES (?,?,?,?)",
                            [pid, rnd, "running", time.time()])

    def finish_round(self, pid: int, rnd: int, status: str = "done", stop_reason: str | None = None) -> None:
        with self.transaction():
            self.db.execute("UPDATE rounds SET status=?, stop_reason=?, finished_at=? WHERE project_id=? AND "
                            "round=?", [status, stop_reason, time.time(), pid, rnd])

    def rounds(self, pid: int) -> list[dict]:
        return list(self.db.query("SELECT * FROM rounds WHERE project_id = ? ORDER BY round", [pid]))

    def phase_status(self, pid: int, rnd: int, phase: str) -> str | None:
        row = self.db.execute("SELECT status FROM phases WHERE project_id=? AND round=? AND phase=?",
                              [pid, rnd, phase]).fetchone()
        return row[0] if row else None

    def set_phase(self, pid: int, rnd: int, phase: str, status: str, seconds: float | None = None,
                  detail: str | None = None) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO phases VALUES (?,?,?,?,?,?,?)",
                            [pid, rnd, phase, status, seconds, detail, time.time()])

    def phases(self, pid: int, rnd: int | None = None) -> list[dict]:
        sql, args = "SELECT * FROM phases WHERE project_id = ?", [pid]
        if rnd is not None:
            sql += " AND round = ?"
            args.append(rnd)
        return list(self.db.query(sql + " ORDER BY round, finished_at", args))

    # --- explanations, scores, selections ----------------------------------------------------------

    def save_explanations(self, pid: int, rnd: int, explanations: list[Explanation]) -> None:
        with self.transaction():
            self.db["explanations"].upsert_all(({
                "project_id": pid, "round": rnd, "example_id": x.example_id, "kind": x.kind,
                "sample_idx": x.sample_idx, "text": x.text, "steps": _j(x.steps), "answer": x.answer,
                "probe_answers": _j(x.probe_answers), "probe_probs": _j(x.probe_probs),
                "answer_entropy": x.answer_entropy, "mean_nll": x.mean_nll} for x in explanations),
                pk=("project_id", "round", "example_id", "kind", "sample_idx"))

    def explanations(self, pid: int, rnd: int, ids: Iterable[str] | None = None) -> list[Explanation]:
        rows = self.db.query("SELECT * FROM explanations WHERE project_id=? AND round=? "
                             "ORDER BY example_id, kind, sample_idx", [pid, rnd])
        wanted = set(ids) if ids is not None else None
        return [Explanation(example_id=r["example_id"], kind=r["kind"], sample_idx=r["sample_idx"],
                            text=r["text"], steps=_l(r["steps"]), answer=r["answer"],
                            probe_answers=_l(r["probe_answers"]), probe_probs=_l(r["probe_probs"]),
                            answer_entropy=r["answer_entropy"], mean_nll=r["mean_nll"])
                for r in rows if wanted is None or r["example_id"] in wanted]

    def explained_ids(self, pid: int, rnd: int) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT example_id FROM explanations WHERE "
                                              "project_id=? AND round=?", [pid, rnd]).fetchall()}

    def save_scores(self, pid: int, rnd: int, strategy: str, rows: dict[str, tuple[float, dict]]) -> None:
        with self.transaction():
            self.db["scores"].upsert_all(({"project_id": pid, "round": rnd, "example_id": i, "strategy": strategy,
                                           "score": s, "components": _j(c)} for i, (s, c) in rows.items()),
                                         pk=("project_id", "round", "example_id", "strategy"))

    def scores(self, pid: int, rnd: int | None = None) -> list[dict]:
        sql, args = "SELECT * FROM scores WHERE project_id = ?", [pid]
        if rnd is not None:
            sql += " AND round = ?"
            args.append(rnd)
        return [dict(r, components=_l(r["components"])) for r in self.db.query(sql, args)]

    def save_selection(self, pid: int, rnd: int, strategy: str, chosen: list[tuple[str, float | None]]) -> None:
        with self.transaction():
            self.db["selections"].insert_all(({"project_id": pid, "round": rnd, "example_id": i, "rank": k,
                                               "strategy": strategy, "score": s, "status": "selected"}
                                              for k, (i, s) in enumerate(chosen, 1)), replace=True)

    def selection(self, pid: int, rnd: int) -> list[dict]:
        return list(self.db.query("SELECT * FROM selections WHERE project_id=? AND round=? ORDER BY rank",
                                  [pid, rnd]))

    def set_selection_status(self, pid: int, rnd: int, example_ids: list[str], status: str) -> None:
        with self.transaction():
            for i in example_ids:
                self.db.execute("UPDATE selections SET status=? WHERE project_id=? AND round=? AND example_id=?",
                                [status, pid, rnd, i])

    # --- teacher ledger and revisions --------------------------------------------------------------

    def record_teacher_call(self, pid: int, rnd: int, example_id: str | None, purpose: str, model: str,
                            prompt_tokens: int, completion_tokens: int, cost_usd: float, cache_key: str | None = None,
                            cached: bool = False, reply=None) -> None:
        """One ledger row; with `reply` (a teachers.Reply) the reply enters the request cache in the same
        transaction. A cached reply this project already has a row for (a resume) adds no second row."""
        with self.transaction():
            if cached and cache_key and self.db.execute(
                    "SELECT 1 FROM teacher_calls WHERE project_id=? AND cache_key=?", [pid, cache_key]).fetchone():
                return
            if reply is not None and cache_key:
                self.db["teacher_cache"].insert({
                    "key": cache_key, "model": model, "content": reply.content, "finish_reason": reply.finish_reason,
                    "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                    "created_at": time.time()}, replace=True)
            self.db["teacher_calls"].insert({
                "project_id": pid, "round": rnd, "example_id": example_id, "purpose": purpose, "model": model,
                "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "cost_usd": cost_usd,
                "created_at": time.time(), "cache_key": cache_key, "cached": int(cached)})

    def mean_call(self, pid: int) -> tuple[float | None, float | None]:
        """Mean (prompt, completion) tokens of the project's paid teacher calls; (None, None) before the first."""
        return tuple(self.db.execute("SELECT avg(prompt_tokens), avg(completion_tokens) FROM teacher_calls "
                                     "WHERE project_id=? AND cached=0", [pid]).fetchone())

    def cached_reply(self, key: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM teacher_cache WHERE key = ?", [key]))
        return rows[0] if rows else None

    def spend(self, pid: int, up_to_round: int | None = None) -> dict[str, float]:
        """What the teacher was paid (cached replies cost nothing and are counted apart)."""
        sql, args = ("SELECT coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0), "
                     "coalesce(sum(cost_usd),0), count(*), coalesce(max(prompt_tokens),0) FROM teacher_calls "
                     "WHERE project_id=? AND cached=0"), [pid]
        if up_to_round is not None:
            sql += " AND round <= ?"
            args.append(up_to_round)
        p, c, d, n, mp = self.db.execute(sql, args).fetchone()
        cached, cp, cc = self.db.execute(
            "SELECT count(*), coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0) FROM teacher_calls "
            "WHERE project_id=? AND cached=1" + (" AND round <= ?" if up_to_round is not None else ""), args).fetchone()
        # used_*: what the project's method consumed, cached replies included (its cost on a fresh workspace)
        return {"prompt_tokens": p, "completion_tokens": c, "cost_usd": d, "calls": n, "max_prompt_tokens": mp,
                "cached_calls": cached, "used_prompt_tokens": p + cp, "used_completion_tokens": c + cc}

    def save_revision(self, pid: int, rnd: int, example_id: str, mode: str, teacher: str, result: TeacherResult,
                      text: str, student_text: str | None, cost_usd: float, prompt_version: str) -> int:
        """Store a teacher revision, pending review (or teacher_failed). Its calls are already in the ledger:
        each was recorded the moment its reply arrived (teachers/dispatch.py)."""
        status = "teacher_failed" if result.status == "teacher_failed" else "pending"
        with self.transaction():
            return self.db["revisions"].insert({
                "project_id": pid, "round": rnd, "example_id": example_id, "mode": mode, "teacher": teacher,
                "prompt_version": prompt_version, "student_text": student_text,
                "verdicts": _j([{"correct": v.correct, "reason": v.reason} for v in result.verdicts]),
                "first_error": result.first_error, "revised_steps": _j(result.revised_steps),
                "answer": result.answer, "text": text, "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens, "cost_usd": cost_usd, "status": status,
                "raw": result.raw, "error": result.error, "final_text": None, "created_at": time.time()},
                replace=True).last_pk

    def revisions(self, pid: int, rnd: int | None = None, status: str | tuple | None = None) -> list[dict]:
        sql, args = "SELECT * FROM revisions WHERE project_id = ?", [pid]
        if rnd is not None:
            sql += " AND round = ?"
            args.append(rnd)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args += list(statuses)
        out = []
        for r in self.db.query(sql + " ORDER BY id", args):
            r.update(verdicts=_l(r["verdicts"]), revised_steps=_l(r["revised_steps"]))
            out.append(r)
        return out

    def revision(self, revision_id: int) -> dict:
        row = next(self.db.query("SELECT * FROM revisions WHERE id = ?", [revision_id]), None)
        if row is None:
            raise StoreError(f"No revision with id {revision_id}.")
        return dict(row, verdicts=_l(row["verdicts"]), revised_steps=_l(row["revised_steps"]))

    def add_review(self, revision_id: int, action: str, reviewer: str, edited_text: str | None = None,
                   reason: str | None = None, overlap: int = 1) -> str:
        """Append a review decision and set the revision's status, atomically; returns the new status.

        With overlap k > 1 the status stays pending until k different reviewers have decided; if they agree
        (same action, same edited text) it becomes that decision, else "conflict". A decision on a conflict
        (an admin's, checked by the caller) settles it."""
        status = {"approve": "approved", "edit": "edited", "reject": "rejected"}.get(action)
        if status is None:
            raise StoreError(f"Unknown review action {action!r}: use approve, edit or reject.")
        if not reviewer:
            raise StoreError("A review needs the reviewer's name.")
        if action == "edit" and not (edited_text or "").strip():
            raise StoreError("An edit needs the edited explanation text.")
        with self.transaction():  # read, check and write under the write lock: concurrent reviewers queue here
            rev = self.revision(revision_id)
            final = edited_text if action == "edit" else (rev["text"] if action == "approve" else None)
            if action == "approve" and not rev["text"]:
                raise StoreError(f"Revision {revision_id} has no usable text (teacher_failed): edit it instead.")
            claim = self.db.execute("SELECT reviewer FROM review_claims WHERE revision_id=? AND expires_at>?",
                                    [revision_id, time.time()]).fetchone()
            if claim and claim[0] != reviewer:
                raise StoreError(f"Revision {revision_id} is being reviewed by {claim[0]}; take another one.")
            if overlap > 1 and rev["status"] in ("pending", "teacher_failed"):
                earlier = [r for r in self.reviews(revision_id) if not r["reviewer"].startswith("policy:")]
                if any(r["reviewer"] == reviewer for r in earlier):
                    raise StoreError(f"{reviewer} has already reviewed revision {revision_id}; it needs "
                                     f"{overlap} different reviewers.")
                votes = [(r["action"], r["edited_text"]) for r in earlier] + [(action, edited_text)]
                if len(votes) < overlap:
                    status, final = rev["status"], rev["final_text"]
                elif len(set(votes)) > 1:
                    status, final = "conflict", None
            self.db["reviews"].insert({"revision_id": revision_id, "action": action, "reviewer": reviewer,
                                       "edited_text": edited_text, "reason": reason, "created_at": time.time()})
            self.db.execute("UPDATE revisions SET status = ?, final_text = ? WHERE id = ?",
                            [status, final, revision_id])
            self.db.execute("DELETE FROM review_claims WHERE revision_id=?", [revision_id])
            return status

    def reviews(self, revision_id: int | None = None, pid: int | None = None) -> list[dict]:
        if revision_id is not None:
            return list(self.db.query("SELECT * FROM reviews WHERE revision_id = ? ORDER BY id", [revision_id]))
        return list(self.db.query("SELECT r.* FROM reviews r JOIN revisions v ON v.id = r.revision_id "
                                  "WHERE v.project_id = ? ORDER BY r.id", [pid]))

    def training_samples(self, pid: int, up_to_round: int) -> list[tuple[Example, str]]:
        """Every approved or edited revision of rounds <= up_to_round, with its final text."""
        rows = list(self.db.query(
            "SELECT example_id, final_text FROM revisions WHERE project_id=? AND round<=? AND status IN "
            "('approved','edited') ORDER BY round, example_id", [pid, up_to_round]))  # not by arrival: teacher
        # replies arrive in any order (concurrency, a resume), and training must see the same sequence
        by_id = {e.id: e for e in self.examples(pid, ids=[r["example_id"] for r in rows])}
        return [(by_id[r["example_id"]], r["final_text"]) for r in rows]

    def review_counts(self, pid: int, up_to_round: int | None = None) -> dict[str, int]:
        sql, args = "SELECT status, count(*) AS n FROM revisions WHERE project_id = ?", [pid]
        if up_to_round is not None:
            sql += " AND round <= ?"
            args.append(up_to_round)
        return {r["status"]: r["n"] for r in self.db.query(sql + " GROUP BY status", args)}

    # --- training runs and metrics -----------------------------------------------------------------

    def save_training_run(self, pid: int, rnd: int, **row: Any) -> None:
        row["losses"] = _j(row.get("losses"))
        if row.get("checkpoint"):  # relative, so the workspace can move and be opened from anywhere
            row["checkpoint"] = os.path.relpath(Path(row["checkpoint"]).resolve(), self.workspace)
        with self.transaction():
            self.db["training_runs"].insert(dict(project_id=pid, round=rnd, **row), replace=True)

    def training_run(self, pid: int, rnd: int) -> dict | None:
        row = next(self.db.query("SELECT * FROM training_runs WHERE project_id=? AND round=?", [pid, rnd]), None)
        if row is None:
            return None
        ckpt = str(self.workspace / row["checkpoint"]) if row["checkpoint"] else None
        return dict(row, losses=_l(row["losses"]), checkpoint=ckpt)

    def latest_checkpoint(self, pid: int, before_round: int) -> tuple[str, str] | None:
        """(checkpoint folder, training method) of the latest trained round before `before_round`."""
        row = self.db.execute("SELECT checkpoint, method FROM training_runs WHERE project_id=? AND round<? AND "
                              "checkpoint IS NOT NULL ORDER BY round DESC LIMIT 1", [pid, before_round]).fetchone()
        return (str(self.workspace / row[0]), row[1]) if row else None

    def save_metrics(self, pid: int, rnd: int, **row: Any) -> None:
        for key in ("by_difficulty", "phase_seconds"):
            row[key] = _j(row.get(key))
        with self.transaction():
            self.db["metrics"].insert(dict(project_id=pid, round=rnd, created_at=time.time(), **row), replace=True)

    def set_phase_seconds(self, pid: int, rnd: int, seconds: dict[str, float]) -> None:
        with self.transaction():
            self.db.execute("UPDATE metrics SET phase_seconds = ? WHERE project_id = ? AND round = ?",
                            [_j(seconds), pid, rnd])

    def metrics(self, pid: int) -> list[dict]:
        return [dict(r, by_difficulty=_l(r["by_difficulty"]), phase_seconds=_l(r["phase_seconds"]))
                for r in self.db.query("SELECT * FROM metrics WHERE project_id=? ORDER BY round", [pid])]

    def table_counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in self.db.table_names()}
