"""Typed states: the enums and the schema's CHECK constraints list the same values, the database refuses any
other, and the migration that added the constraints keeps every row of a version 5 workspace."""

from __future__ import annotations

import re
import sqlite3
import time

import pytest

from conftest import old_workspace
from elad_engine.config import ProjectConfig
from elad_engine.errors import StoreError
from elad_engine.states import (
    CHECKED_COLUMNS,
    DECIDED,
    TRAINABLE,
    UNDECIDED,
    JobStatus,
    ReviewAction,
    RevisionStatus,
)
from elad_engine.store import SCHEMA_VERSION, Store


def _checked_values(store: Store, table: str, column: str) -> set[str]:
    sql = store.db.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", [table]).fetchone()[0]
    m = re.search(rf"\b{column}\b[^,]*?CHECK \({column} IN \(([^)]*)\)\)", sql, re.DOTALL)
    assert m, f"{table}.{column} has no CHECK constraint"
    return {v.strip().strip("'") for v in m.group(1).split(",")}


def test_the_schema_checks_exactly_the_enum_values(workspace):
    store = Store(workspace)
    for (table, column), enum in CHECKED_COLUMNS.items():
        assert _checked_values(store, table, column) == {e.value for e in enum}, (table, column)


def test_the_state_sets_are_defined_once_and_partition_the_revision_statuses():
    assert UNDECIDED | DECIDED == set(RevisionStatus) and not UNDECIDED & DECIDED
    assert TRAINABLE < DECIDED and RevisionStatus.REJECTED not in TRAINABLE
    assert {a.status for a in ReviewAction} == DECIDED
    assert RevisionStatus.PENDING == "pending" and f"{JobStatus.RUNNING}" == "running"  # still their strings


def test_the_database_refuses_a_status_no_enum_has(workspace):
    store = Store(workspace)
    pid = store.projects.create("p", ProjectConfig())
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.db.execute("INSERT INTO jobs (project_id, kind, status, created_at) VALUES (?, 'rounds', 'finished', 0)",
                         [pid])
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.db.execute("INSERT INTO rounds (project_id, round, status) VALUES (?, 0, 'complete')", [pid])
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.db.execute("INSERT INTO phases (project_id, round, phase, status) VALUES (?, 0, 'explain', 'ok')", [pid])


def _v5_workspace(ws, extra: list[str] = ()) -> None:
    """A workspace as release 5 wrote it, with rows in every status the engine used."""
    rows = [("INSERT INTO projects VALUES (1, 'p', ?, 0)", [ProjectConfig().to_toml()])]
    rows += [("INSERT INTO rounds VALUES (1, ?, ?, NULL, 0, NULL)", [rnd, status])
             for rnd, status in enumerate(["done", "running"])]
    rows += [("INSERT INTO phases VALUES (1, 0, ?, ?, 1.0, 'x', 0)", [phase, status])
             for phase, status in [("baseline", "done"), ("review", "waiting"), ("train", "closed")]]
    rows += [("INSERT INTO revisions (project_id, round, example_id, mode, teacher, status, created_at) "
              "VALUES (1, 1, ?, 'revision', 'oracle', ?, 0)", [f"e{i}", status.value])
             for i, status in enumerate(RevisionStatus)]
    rows += [("INSERT INTO reviews (revision_id, action, reviewer, created_at) VALUES (1, 'approve', 'ann', 0)", [])]
    rows += [("INSERT INTO jobs (project_id, kind, status, created_at) VALUES (1, 'rounds', ?, ?)",
              [status.value, time.time()]) for status in JobStatus]
    rows += [("INSERT INTO selections VALUES (1, 1, ?, ?, 'elad', 0.5, ?)", [f"e{n}", n + 1, status])
             for n, status in enumerate(["selected", "over_budget"])]
    old_workspace(ws, 5, rows + [(sql, []) for sql in extra])


def test_a_version_5_workspace_keeps_every_row_and_gains_the_constraints(tmp_path):
    ws = tmp_path / "v5"
    _v5_workspace(ws)
    before = sqlite3.connect(ws / "elad.db")
    counts = {t: before.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("rounds", "phases", "revisions", "reviews", "jobs", "selections")}
    rows = before.execute("SELECT * FROM revisions ORDER BY id").fetchall()
    before.close()
    store = Store(ws)
    assert store.schema_version() == SCHEMA_VERSION == 11
    assert {t: store.db[t].count for t in counts} == counts and counts["revisions"] == 6
    after = store.db.execute("SELECT * FROM revisions ORDER BY id").fetchall()
    assert [r[:len(rows[0])] for r in after] == rows  # later versions only add columns
    assert {r["status"] for r in store.revisions.list(1)} == set(RevisionStatus)
    assert store.reviews.list(1)[0]["reviewer"] == "ann"  # the review still points at its revision
    assert _checked_values(store, "revisions", "status") == set(RevisionStatus)
    assert "revisions_by_status" in {i.name for i in store.db["revisions"].indexes}
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # the review log's triggers survived
        store.db.execute("DELETE FROM reviews")


def test_a_row_the_constraints_refuse_stops_the_migration_and_changes_nothing(tmp_path):
    ws = tmp_path / "v5"
    _v5_workspace(ws, ["INSERT INTO rounds VALUES (1, 9, 'exploded', NULL, 0, NULL)"])
    with pytest.raises(StoreError, match="table rounds has a row the schema 6 constraints refuse"):
        Store(ws)
    con = sqlite3.connect(ws / "elad.db")
    assert con.execute("SELECT value FROM meta").fetchone()[0] == "5"
    assert con.execute("SELECT count(*) FROM rounds").fetchone()[0] == 3
    assert "CHECK" not in con.execute("SELECT sql FROM sqlite_master WHERE name='revisions'").fetchone()[0]
