"""Back up a live workspace: the SQLite database through SQLite's online backup API (consistent while the
app and worker keep writing), plus the artifacts folder (checkpoints, exports). Run:
`python -m elad_engine backup --to DIR [--workspace WS] [--no-artifacts]`; restore with `restore_backup`.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .errors import StoreError
from .store import Store

MARKER = "elad-backup.json"


def backup_workspace(workspace: str | Path, to: str | Path, artifacts: bool = True) -> dict:
    """Copy the workspace into the new folder `to`; returns what was written."""
    src = Store(workspace)
    dest = Path(to).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise StoreError(f"{dest} exists and is not empty; back up into a new folder.")
    if dest == src.workspace or src.workspace in dest.parents:
        raise StoreError(f"{dest} is inside the workspace {src.workspace}; choose a folder outside it.")
    tmp = dest.with_name(dest.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    t0 = time.time()
    try:
        src.database.copy_to(tmp / "elad.db")
    except StoreError:
        shutil.rmtree(tmp)
        raise
    copied = 0
    if artifacts and src.artifacts.exists():
        shutil.copytree(src.artifacts, tmp / "artifacts")
        copied = sum(1 for p in (tmp / "artifacts").rglob("*") if p.is_file())
    info = {"workspace": str(src.workspace), "created_at": time.time(), "schema_version": src.schema_version(),
            "projects": [p["name"] for p in src.projects.list()], "artifact_files": copied,
            "seconds": round(time.time() - t0, 2)}
    (tmp / MARKER).write_text(json.dumps(info, indent=2))
    src.close()
    tmp.rename(dest)
    return info


def restore_backup(backup: str | Path, workspace: str | Path) -> dict:
    """Make `workspace` (a new or empty folder) a copy of the backup. Stop the app and worker first."""
    backup, workspace = Path(backup).resolve(), Path(workspace).resolve()
    if not (backup / MARKER).is_file() or not (backup / "elad.db").is_file():
        raise StoreError(f"{backup} is not an ELAD Studio backup (no {MARKER} and elad.db).")
    if workspace.exists() and any(workspace.iterdir()):
        raise StoreError(f"{workspace} is not empty; restore into a new folder, then point ELAD_WORKSPACE at it.")
    workspace.mkdir(parents=True, exist_ok=True)
    shutil.copy2(backup / "elad.db", workspace / "elad.db")
    if (backup / "artifacts").is_dir():
        shutil.copytree(backup / "artifacts", workspace / "artifacts")
    store = Store(workspace)  # opens and migrates, as a check
    info = {"projects": [p["name"] for p in store.projects.list()], "schema_version": store.schema_version()}
    store.close()
    return info
