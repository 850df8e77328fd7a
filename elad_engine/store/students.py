"""Students registered in the workspace: a name, a label for pickers, and the model folder (relative to the
workspace) a GGUF file was converted into once, with the source file's sha256."""

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


class Students:
    def __init__(self, database: Database):
        self.database = database

    def add(self, name: str, label: str, path: Path, source: str | None, sha256: str | None,
            parameters: int | None) -> None:
        rel = os.path.relpath(Path(path).resolve(), self.database.workspace)
        with self.database.transaction() as db:
            db["students"].insert({"name": name, "label": label, "path": rel, "source": source, "sha256": sha256,
                                   "parameters": parameters, "created_at": time.time()}, replace=True)

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
