"""Students registered in the workspace: a name, a label for pickers, and the model folder (relative to the
workspace) a GGUF file was converted into once, with the source file's sha256, and where the model came from as the
hub names it (its id and licence, when known)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TypedDict

from ..errors import StoreError
from .database import Database


class StudentRow(TypedDict):
    name: str
    label: str
    path: str  # absolute, as read back
    source: str | None  # the file it was converted from
    sha256: str | None
    parameters: int | None
    created_at: float
    base_model_id: str | None  # the hub id of the model the file packages, never a path
    license: str | None  # the base model's licence id, when known


class Students:
    def __init__(self, database: Database):
        self.database = database

    def add(self, name: str, label: str, path: Path, source: str | None, sha256: str | None,
            parameters: int | None, base_model_id: str | None = None, license: str | None = None) -> None:
        rel = os.path.relpath(Path(path).resolve(), self.database.workspace)
        with self.database.transaction() as db:
            db["students"].insert({"name": name, "label": label, "path": rel, "source": source, "sha256": sha256,
                                   "parameters": parameters, "created_at": time.time(),
                                   "base_model_id": base_model_id, "license": license}, replace=True)

    def get(self, name: str) -> StudentRow:
        rows = self.database.query("SELECT * FROM students WHERE name = ?", [name])
        if not rows:
            known = ", ".join(r["name"] for r in self.list()) or "none yet"
            raise StoreError(f"No student named {name!r} in this workspace (registered: {known}); add one with "
                             "`elad student add NAME --gguf FILE`.")
        return self._row(rows[0])

    def by_sha256(self, sha256: str) -> StudentRow | None:
        rows = self.database.query("SELECT * FROM students WHERE sha256 = ? ORDER BY created_at", [sha256])
        return self._row(rows[0]) if rows else None

    def list(self) -> list[StudentRow]:
        return [self._row(r) for r in self.database.query("SELECT * FROM students ORDER BY name")]

    def _row(self, row: dict) -> StudentRow:
        return dict(row, path=str(self.database.workspace / row["path"]))
