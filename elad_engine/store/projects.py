"""Projects and their examples: the project rows (name, config TOML), the dataset imports and the examples."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TypedDict

from ..config import ProjectConfig
from ..errors import DatasetError, StoreError
from ..method.records import Example
from .database import Database, from_json, id_list, to_json

PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProjectRow(TypedDict):
    id: int
    name: str
    created_at: float


class ImportRow(TypedDict):
    source: str
    rows: int
    created_at: float


def check_project_name(name: str) -> None:
    """Project names become folder names under artifacts/: letters, digits, _ . - only."""
    if not PROJECT_NAME.match(name or ""):
        raise StoreError(f"project name {name!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit.")


class Projects:
    def __init__(self, database: Database):
        self.database = database

    def create(self, name: str, config: ProjectConfig) -> int:
        check_project_name(name)
        if self.find(name) is not None:
            raise StoreError(f"A project named {name!r} already exists in {self.database.workspace}.")
        config.validate().check_files()
        with self.database.transaction() as db:
            return db["projects"].insert({"name": name, "config": config.to_toml(), "created_at": time.time()}).last_pk

    def find(self, name: str) -> int | None:
        row = self.database.execute("SELECT id FROM projects WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def id_of(self, name: str) -> int:
        project_id = self.find(name)
        if project_id is None:
            names = ", ".join(p["name"] for p in self.list()) or "none yet"
            raise StoreError(f"No project named {name!r} in {self.database.workspace} (projects: {names}).")
        return project_id

    def list(self) -> list[ProjectRow]:
        return self.database.query("SELECT id, name, created_at FROM projects ORDER BY id")

    def name_of(self, project_id: int) -> str:
        row = self.database.execute("SELECT name FROM projects WHERE id = ?", [project_id]).fetchone()
        if row is None:
            raise StoreError(f"No project with id {project_id}.")
        return row[0]

    def config(self, project_id: int) -> ProjectConfig:
        row = self.database.execute("SELECT config FROM projects WHERE id = ?", [project_id]).fetchone()
        if row is None:
            raise StoreError(f"No project with id {project_id}.")
        return ProjectConfig.from_toml(row[0], f"project {project_id} config")

    def set_config(self, project_id: int, config: ProjectConfig) -> None:
        config.validate().check_files()
        with self.database.transaction():
            self.database.execute("UPDATE projects SET config = ? WHERE id = ?", [config.to_toml(), project_id])

    def prompt_style(self, project_id: int) -> dict | None:
        """The project's prompt style as resolved when first needed (student/prompt_style.py), or None."""
        row = self.database.execute("SELECT prompt_style FROM projects WHERE id = ?", [project_id]).fetchone()
        return from_json(row[0]) if row and row[0] else None

    def student_source(self, project_id: int) -> dict | None:
        """The base student as resolved for the project (student/hub.py: a hub id's pinned commit), or None."""
        row = self.database.execute("SELECT student_source FROM projects WHERE id = ?", [project_id]).fetchone()
        return from_json(row[0]) if row and row[0] else None

    def set_student_source(self, project_id: int, source: dict | None) -> None:
        with self.database.transaction():
            self.database.execute("UPDATE projects SET student_source = ? WHERE id = ?", [to_json(source),
                                                                                          project_id])

    def guidelines(self, project_id: int) -> str:
        """The project's review guidelines (markdown written by an admin); empty when none."""
        row = self.database.execute("SELECT guidelines FROM projects WHERE id = ?", [project_id]).fetchone()
        return (row[0] if row else None) or ""

    def set_guidelines(self, project_id: int, text: str) -> None:
        with self.database.transaction():
            self.database.execute("UPDATE projects SET guidelines = ? WHERE id = ?", [text or None, project_id])

    def set_prompt_style(self, project_id: int, style: dict | None) -> None:
        with self.database.transaction():
            self.database.execute("UPDATE projects SET prompt_style = ? WHERE id = ?", [to_json(style), project_id])

    def imports(self, project_id: int) -> list[ImportRow]:
        return self.database.query("SELECT source, rows, created_at FROM imports WHERE project_id=? ORDER BY id",
                                   [project_id])


class Examples:
    def __init__(self, database: Database, projects: Projects):
        self.database, self.projects = database, projects

    def add(self, project_id: int, examples: list[Example], source: str) -> int:
        """Insert all examples or none: an id already in the project refuses the whole import."""
        clash = [r[0] for r in self.database.execute(
            "SELECT id FROM examples WHERE project_id = ? AND id IN (SELECT value FROM json_each(?))",
            [project_id, id_list(e.id for e in examples)]).fetchall()]
        if clash:
            raise DatasetError(f"{source}: {len(clash)} ids already exist in project "
                               f"{self.projects.name_of(project_id)!r} (first: {clash[0]!r}); nothing was imported.")
        with self.database.transaction() as db:
            import_id = db["imports"].insert({"project_id": project_id, "source": source, "rows": len(examples),
                                              "created_at": time.time()}).last_pk
            db["examples"].insert_all(({
                "project_id": project_id, "id": e.id, "split": e.split, "question": e.question, "answer": e.answer,
                "rationale": e.rationale, "choices": to_json(e.choices), "difficulty": e.difficulty,
                "meta": to_json(e.meta), "import_id": import_id} for e in examples), batch_size=500)
        return len(examples)

    def list(self, project_id: int, split: str | None = None, ids: Iterable[str] | None = None) -> list[Example]:
        """The project's examples in import order; with `ids`, those examples in the order of `ids`."""
        sql, args = "SELECT * FROM examples WHERE project_id = ?", [project_id]
        if split:
            sql, args = sql + " AND split = ?", [*args, split]
        if ids is None:
            return [self._example(r) for r in self.database.query(sql + " ORDER BY rowid", args)]
        ids = list(ids)
        rows = self.database.query(sql + " AND id IN (SELECT value FROM json_each(?))", [*args, id_list(ids)])
        by_id = {r["id"]: self._example(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def ids(self, project_id: int, split: str) -> list[str]:
        """The split's example ids in import order, without reading the examples (a 50,000-row pool in ~20 ms)."""
        return [r[0] for r in self.database.execute(
            "SELECT id FROM examples WHERE project_id = ? AND split = ? ORDER BY rowid", [project_id, split])]

    def version(self, project_id: int) -> tuple[int, int]:
        """(examples, last import id): changes whenever the project's examples do (imports only ever add)."""
        return tuple(self.database.execute(
            "SELECT (SELECT count(*) FROM examples WHERE project_id = ?), "
            "(SELECT coalesce(max(id), 0) FROM imports WHERE project_id = ?)", [project_id, project_id]).fetchone())

    def get(self, project_id: int, example_id: str) -> Example:
        found = self.list(project_id, ids=[example_id])
        if not found:
            raise StoreError(f"No example {example_id!r} in project {self.projects.name_of(project_id)!r}.")
        return found[0]

    @staticmethod
    def _example(r: dict) -> Example:
        return Example(id=r["id"], question=r["question"], answer=r["answer"], split=r["split"],
                       rationale=r["rationale"], choices=from_json(r["choices"]), difficulty=r["difficulty"],
                       meta=from_json(r["meta"]) or {})

    def counts(self, project_id: int) -> dict[str, int]:
        """Examples per split."""
        return {r["split"]: r["n"] for r in self.database.query(
            "SELECT split, count(*) AS n FROM examples WHERE project_id = ? GROUP BY split", [project_id])}

    def fit_counts(self, project_id: int, sample: int = 200) -> dict:
        """What the fit check reads of the data, in SQL: rows per split, pool rows with a reference rationale, rows
        with the embedded task's synthetic chain, and the first `sample` pool questions (for the tokenizer check)."""
        pool, test, rationales, chains = self.database.execute(
            "SELECT coalesce(sum(split = 'pool'), 0), coalesce(sum(split = 'test'), 0), "
            "coalesce(sum(split = 'pool' AND rationale IS NOT NULL AND trim(rationale) != ''), 0), "
            "coalesce(sum(json_extract(meta, '$.chain') IS NOT NULL), 0) FROM examples WHERE project_id = ?",
            [project_id]).fetchone()
        questions = [r[0] for r in self.database.execute(
            "SELECT question FROM examples WHERE project_id = ? AND split = 'pool' ORDER BY rowid LIMIT ?",
            [project_id, sample])]
        return {"pool": pool, "test": test, "pool_rationales": rationales, "chains": chains, "rows": pool + test,
                "questions": questions}
