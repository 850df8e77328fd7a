"""Backups of a live workspace: taken while a worker process runs rounds, restorable, consistent."""

from __future__ import annotations

import sqlite3

import pytest
from test_cli import cli
from test_worker import start_worker, wait_for

from conftest import tiny_project
from elad_engine.backup import backup_workspace, restore_backup
from elad_engine.errors import StoreError
from elad_engine.jobs.queue import enqueue_rounds
from elad_engine.store import Store


def test_backup_while_a_worker_writes_then_restore(tmp_path, tiny_model_dir):
    ws = tmp_path / "ws"
    store = Store(ws)
    pid = tiny_project(store, tiny_model_dir, **{"rounds.rounds": 2})
    worker = start_worker(ws)
    try:
        job = enqueue_rounds(store, pid)
        wait_for(lambda: store.jobs.get(job)["phase"] in ("explain", "score", "revise", "train", "evaluate"))
        info = backup_workspace(ws, tmp_path / "backup")  # mid-round, the worker still writing
        wait_for(lambda: store.jobs.get(job)["status"] == "done", timeout=300)
    finally:
        worker.terminate()
        worker.wait(10)
    assert info["projects"] == ["p"]
    copy = sqlite3.connect(tmp_path / "backup" / "elad.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.close()
    restored = restore_backup(tmp_path / "backup", tmp_path / "restored")
    assert restored["projects"] == ["p"]
    back = Store(tmp_path / "restored")
    assert back.examples.counts(1) == store.examples.counts(pid)
    assert len(back.rounds.list(1)) <= len(store.rounds.list(pid))  # the copy is the state at backup time
    for run in [back.training_runs.get(1, r["round"]) for r in back.rounds.list(1)]:
        if run and run["checkpoint"]:  # checkpoints are stored relative: they resolve inside the copy
            assert str(tmp_path / "restored") in run["checkpoint"]


def test_backup_refuses_bad_targets_and_cli_round_trip(tmp_path, tiny_model_dir):
    ws = tmp_path / "ws"
    store = Store(ws)
    tiny_project(store, tiny_model_dir)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        backup_workspace(ws, tmp_path / "full")
    with pytest.raises(StoreError, match="inside the workspace"):
        backup_workspace(ws, ws / "b")
    with pytest.raises(StoreError, match="not an ELAD Studio backup"):
        restore_backup(tmp_path / "full", tmp_path / "new")
    out = cli("backup", "--to", str(tmp_path / "b1"), workspace=ws)
    assert out.returncode == 0 and "projects ['p']" in out.stdout, out.stderr
    out = cli("backup", "--restore", str(tmp_path / "b1"), workspace=tmp_path / "ws2")
    assert out.returncode == 0 and "restored" in out.stdout, out.stderr
    assert Store(tmp_path / "ws2").examples.counts(1) == {"pool": 24, "test": 8}
    bad = cli("backup", "--restore", str(tmp_path / "b1"), workspace=tmp_path / "ws2")
    assert bad.returncode == 2 and "is not empty" in bad.stderr
