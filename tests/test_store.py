"""The workspace database: round trips, atomic imports, the append-only review log, schema versions."""

from __future__ import annotations

import os
import sqlite3

import pytest

from elad_engine.config import ProjectConfig
from elad_engine.errors import DatasetError, StoreError
from elad_engine.method.records import Example, Explanation, StepVerdict, TeacherResult
from elad_engine.review.decisions import record as record_review
from elad_engine.store import SCHEMA_VERSION, Store


@pytest.fixture
def store(workspace) -> Store:
    return Store(workspace)


def _examples(n: int, prefix: str = "e") -> list[Example]:
    return [Example(id=f"{prefix}{i}", question=f"q{i}?", answer=str(i), split="test" if i % 4 == 0 else "pool",
                    rationale=f"1. {i}\nThe answer is {i}.", choices=None, difficulty=i % 3 + 1, meta={"k": [i]})
            for i in range(n)]


def test_wal_and_schema_version(store):
    assert store.schema_version() == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_newer_schema_is_refused(workspace):
    Store(workspace).close()
    con = sqlite3.connect(workspace / "elad.db")
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 999"):
        Store(workspace)


def test_project_and_config_round_trip(store):
    cfg = ProjectConfig().with_overrides(**{"selection.strategy": "random", "rounds.rounds": 7})
    pid = store.projects.create("alpha", cfg)
    assert store.projects.config(pid) == cfg
    assert store.projects.id_of("alpha") == pid
    with pytest.raises(StoreError, match="already exists"):
        store.projects.create("alpha", cfg)
    with pytest.raises(StoreError, match="No project named 'beta'.*alpha"):
        store.projects.id_of("beta")


def test_examples_round_trip_and_atomic_import(store):
    pid = store.projects.create("p", ProjectConfig())
    rows = _examples(8)
    assert store.examples.add(pid, rows, "a.jsonl") == 8
    assert store.examples.list(pid) == rows
    assert store.examples.counts(pid) == {"pool": 6, "test": 2}
    assert [e.id for e in store.examples.list(pid, ids=["e3", "e1"])] == ["e3", "e1"]
    clash = _examples(3, prefix="x") + [rows[5]]
    with pytest.raises(DatasetError, match="b.jsonl: 1 ids already exist.*'e5'.*nothing was imported"):
        store.examples.add(pid, clash, "b.jsonl")
    assert len(store.examples.list(pid)) == 8
    assert store.db["imports"].count == 1


def test_explanations_scores_selection_round_trip(store):
    pid = store.projects.create("p", ProjectConfig())
    xs = [Explanation("e1", "greedy", 0, "1. a\nThe answer is 3.", ["a"], "3", ["2", "3"], [0.1, 0.9], 0.5, 1.2),
          Explanation("e1", "sample", 1, "t", [], None)]
    store.explanations.save(pid, 1, xs)
    store.explanations.save(pid, 1, xs)  # idempotent upsert
    assert store.explanations.list(pid, 1) == xs
    assert store.explanations.explained_ids(pid, 1) == {"e1"}
    store.scores.save(pid, 1, "elad", {"e1": (0.25, {"intra": 0.5, "inter": 0.0})})
    assert store.scores.list(pid, 1)[0]["components"] == {"intra": 0.5, "inter": 0.0}
    store.selections.save(pid, 1, "elad", [("e1", 0.25), ("e2", 0.1)])
    chosen = [(s["example_id"], s["rank"], s["score"]) for s in store.selections.list(pid, 1)]
    assert chosen == [("e1", 1, 0.25), ("e2", 2, 0.1)]
    assert store.selections.labelled_ids(pid) == {"e1", "e2"}


def test_revisions_reviews_append_only_and_ledger(store):
    pid = store.projects.create("p", ProjectConfig())
    store.examples.add(pid, _examples(4), "a")
    result = TeacherResult([StepVerdict(True, "ok"), StepVerdict(False, "bad")], 2, ["x = 1"], "1", 100, 20)
    rid = store.revisions.save(pid, 1, "e1", "revision", "oracle", result, "1. a\n2. x = 1\nThe answer is 1.",
                              "1. a\n2. b\nThe answer is 2.", 0.5, "v1")
    rev = store.revisions.get(rid)
    assert (rev["status"], rev["first_error"], rev["revised_steps"]) == ("pending", 2, ["x = 1"])
    assert rev["verdicts"] == [{"correct": True, "reason": "ok"}, {"correct": False, "reason": "bad"}]
    assert store.teacher_calls.spend(pid)["calls"] == 0  # the ledger is written per call, when its reply arrives
    from elad_engine.teachers.protocol import Reply
    store.teacher_calls.record(pid, 1, "e1", "revision", "m", 100, 20, 0.5, cache_key="k1",
                              reply=Reply("{}", "stop", 100, 20))
    assert store.teacher_calls.spend(pid) == {
        "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.5, "calls": 1, "max_prompt_tokens": 100,
        "cached_calls": 0, "used_prompt_tokens": 100, "used_completion_tokens": 20, "timeouts": 0,
        "simulated_calls": 0}
    assert store.teacher_calls.cached_reply("k1")["content"] == "{}"
    store.teacher_calls.record(pid, 1, "e1", "revision", "m", 100, 20, 0.0, cache_key="k1", cached=True)
    spend = store.teacher_calls.spend(pid)
    assert spend["calls"] == 1 and spend["cached_calls"] == 0  # a resume: no second row
    other = store.projects.create("q", ProjectConfig())
    store.teacher_calls.record(other, 1, "e1", "revision", "m", 100, 20, 0.0, cache_key="k1", cached=True)
    assert (store.teacher_calls.spend(other)["calls"], store.teacher_calls.spend(other)["cached_calls"]) == (0, 1)
    spend = store.teacher_calls.spend(other)
    assert (spend["used_prompt_tokens"], spend["used_completion_tokens"]) == (100, 20)
    record_review(store, rid, "edit", "alice", edited_text="1. fixed\nThe answer is 1.")
    record_review(store, rid, "approve", "bob")
    assert store.revisions.get(rid)["status"] == "approved"
    assert [(r["action"], r["reviewer"]) for r in store.reviews.list(rid)] == [("edit", "alice"), ("approve", "bob")]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE reviews SET reviewer = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM reviews")
    with pytest.raises(StoreError, match="Unknown review action"):
        record_review(store, rid, "maybe", "bob")
    with pytest.raises(StoreError, match="reviewer"):
        record_review(store, rid, "approve", "")
    with pytest.raises(StoreError, match="edited explanation"):
        record_review(store, rid, "edit", "bob", edited_text="  ")
    failed = TeacherResult([], None, [], "", 10, 0, status="teacher_failed", error="bad json")
    fid = store.revisions.save(pid, 1, "e2", "revision", "oracle", failed, None, None, 0.0, "v1")
    assert store.revisions.get(fid)["status"] == "teacher_failed"
    with pytest.raises(StoreError, match="edit it instead"):
        record_review(store, fid, "approve", "bob")
    samples = [(e.id, t) for e, t in store.revisions.training_samples(pid, 1)]
    assert samples == [("e1", "1. a\n2. x = 1\nThe answer is 1.")]


def test_metrics_training_runs_and_jobs(store):
    pid = store.projects.create("p", ProjectConfig())
    ckpt = store.workspace / "artifacts" / "p" / "round-0" / "adapter"
    store.training_runs.save(pid, 0, method="lora", samples=3, steps=2, tokens=50, seconds=1.0, final_loss=0.5,
                            losses=[1.0, 0.5], checkpoint=str(ckpt))
    assert store.training_runs.get(pid, 0)["losses"] == [1.0, 0.5]
    # stored relative to the workspace, so a moved workspace still finds its checkpoints
    assert store.db.execute("SELECT checkpoint FROM training_runs").fetchone()[0] == "artifacts/p/round-0/adapter"
    assert store.training_runs.latest_checkpoint(pid, 1) == (str(ckpt), "lora", None, 0)  # no sha256 recorded here
    assert store.training_runs.latest_checkpoint(pid, 0) is None
    store.metrics.save(pid, 0, accuracy=0.5, by_difficulty={"1": {"accuracy": 0.5, "n": 2}}, phase_seconds={"a": 1})
    m = store.metrics.list(pid)[0]
    assert (m["accuracy"], m["by_difficulty"], m["phase_seconds"]) == (0.5, {"1": {"accuracy": 0.5, "n": 2}}, {"a": 1})
    jid = store.jobs.enqueue(pid, "rounds", {"max_rounds": 1})
    job = store.jobs.claim(os.getpid(), lease_s=15)
    assert (job["id"], job["status"], job["args"]) == (jid, "running", {"max_rounds": 1})
    assert store.jobs.claim(os.getpid(), lease_s=15) is None
    store.jobs.update(jid, status="done", progress=3, total=3)
    assert store.jobs.get(jid)["status"] == "done"


def test_a_version_1_workspace_is_migrated_in_place(tmp_path):
    """A workspace written by schema v1 (tests/data/schema_v1.sql, the first release's tables) opens, keeps
    its rows, and gains the teacher cache, the ledger's cache columns, the job log and the workers table."""
    from conftest import old_workspace

    ws = old_workspace(tmp_path / "old", 1, [(
        "INSERT INTO teacher_calls (project_id, round, purpose, prompt_tokens, completion_tokens, cost_usd, "
        "created_at) VALUES (1, 0, 'full', 10, 5, 0.1, 0)", [])])
    store = Store(ws)
    assert store.schema_version() == SCHEMA_VERSION == 11
    spend = store.teacher_calls.spend(1)
    assert spend["calls"] == 1 and spend["cached_calls"] == 0  # old rows count as paid
    assert {"teacher_cache", "job_log", "workers", "review_claims", "users"} <= set(store.db.table_names())
    assert {"phase", "phase_started"} <= {c.name for c in store.db["jobs"].columns}
    assert {"base_model_id", "license"} <= {c.name for c in store.db["students"].columns}  # version 11
    assert "dtype" in {c.name for c in store.db["training_runs"].columns}


def test_id_filters_run_in_sql_for_any_number_of_ids(store):
    """ids= filters are one json_each parameter, so thousands of ids (past SQLite's 999-variable limit) work and
    come back in the order asked for."""
    pid = store.projects.create("p", ProjectConfig())
    rows = _examples(3000)
    store.examples.add(pid, rows, "big.jsonl")
    wanted = [f"e{i}" for i in range(2999, 0, -2)]
    assert [e.id for e in store.examples.list(pid, ids=wanted)] == wanted
    assert [e.id for e in store.examples.list(pid, split="test", ids=wanted)] == []  # odd ids are all pool
    store.explanations.save(pid, 1, [Explanation(f"e{i}", kind, k, "t", [], None)
                                     for i in range(1500) for k, kind in enumerate(["greedy", "sample"])])
    greedy = store.explanations.list(pid, 1, ids=[f"e{i}" for i in range(1200)], kind="greedy")
    assert len(greedy) == 1200 and {x.kind for x in greedy} == {"greedy"}
    assert len(store.explanations.list(pid, 1)) == 3000
    with pytest.raises(DatasetError, match="3000 ids already exist"):
        store.examples.add(pid, rows, "again.jsonl")
