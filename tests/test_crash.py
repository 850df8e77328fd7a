"""Crash safety: the worker is killed with SIGKILL at 20+ points of a run (explaining, revising, training,
evaluating and at random) and restarted each time. The run completes with the metrics of an uninterrupted
run with the same seed, no review is lost, the database passes its integrity check, and the teacher server
answered no request twice, except a call that was in flight at the very moment of a kill (no client can
know whether such a reply was billed; the ledger then still records it once)."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from teacher_server import TeacherServer
from test_worker import start_worker, wait_for

from conftest import tiny_project
from elad_engine.jobs.queue import enqueue_rounds
from elad_engine.store import Store
from elad_engine.tasks.synthetic import default_dataset

KEY = "sk-crash-test"
SETTINGS = {"teacher.kind": "openai", "teacher.model": "teacher-test", "teacher.api_key_env": "ELAD_CRASH_KEY",
            "teacher.concurrency": 2, "rounds.rounds": 4, "rounds.warmup": 6, "selection.round_budget": 6,
            "training.epochs": 3}
POOL, TEST = 96, 64
TARGETS = [None] * 5 + ["evaluate"] + [None] * 5 + ["train"] + [None] * 5 + ["revise"] + [None] * 5 + ["explain"]


def metrics_of(store: Store, pid: int) -> list[tuple]:
    return [(m["round"], m["accuracy"], m["by_difficulty"], m["prompt_tokens"], m["completion_tokens"],
             m["approved"], m["rejected"]) for m in store.metrics.list(pid)]


def adapter_digest(store: Store, pid: int) -> str:
    import hashlib
    from pathlib import Path

    last = max(r["round"] for r in store.rounds.list(pid))
    folder = Path(store.training_runs.get(pid, last)["checkpoint"])
    return hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()


def run(ws, server, kills: int, rng: random.Random) -> tuple[Store, int, list]:
    store = Store(ws)
    pid = tiny_project(store, ws.parent / "model", pool=POOL, test=TEST,
                       **SETTINGS, **{"teacher.base_url": server.base_url})
    job = enqueue_rounds(store, pid)
    killed = []
    worker = start_worker(ws, "--stale-after", "1")
    try:
        while len(killed) < kills and store.jobs.get(job)["status"] != "done":
            started = time.time()

            def phase_began_after(t: float) -> float | None:  # the worker has loaded and started a phase
                j = store.jobs.get(job)
                return j["phase_started"] if j["worker_pid"] == worker.pid and (j["phase_started"] or 0) > t \
                    else (None if j["status"] != "done" else t)

            first = wait_for(lambda: phase_began_after(started), timeout=120)
            target = TARGETS[len(killed) % len(TARGETS)]
            if target:  # run on until that phase begins, so every kind of phase is hit
                wait_for(lambda: store.jobs.get(job)["phase"] == target or store.jobs.get(job)["status"] == "done",
                         timeout=120, every=0.01)
            elif rng.random() < 0.15:  # let that phase finish (progress), then kill inside the next one
                wait_for(lambda: phase_began_after(first), timeout=120)
            time.sleep(rng.uniform(0.0, 0.05 if target else 0.3))  # a random point inside the phase
            if store.jobs.get(job)["status"] == "done":
                break
            phase = store.jobs.get(job)["phase"]
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
            killed.append((phase, time.time()))
            worker = start_worker(ws, "--stale-after", "1")
        wait_for(lambda: store.jobs.get(job)["status"] == "done", timeout=600)
    finally:
        worker.terminate()
        worker.wait(10)
    return store, pid, killed


@pytest.mark.slow
def test_sigkill_at_twenty_points_changes_nothing(tmp_path, tiny_model_dir, monkeypatch):
    import shutil

    monkeypatch.setenv("ELAD_CRASH_KEY", KEY)
    examples = default_dataset(POOL, TEST, seed=99)
    with TeacherServer(examples, api_key=KEY) as server:
        (tmp_path / "a").mkdir()
        shutil.copytree(tiny_model_dir, tmp_path / "a" / "model")
        t0 = time.time()
        ref, ref_pid, _ = run(tmp_path / "a" / "ws", server, 0, random.Random(0))
        reference = metrics_of(ref, ref_pid)
        ref_weights = adapter_digest(ref, ref_pid)
        print(f"uninterrupted run: {time.time() - t0:.1f} s")
    with TeacherServer(examples, api_key=KEY) as server:
        (tmp_path / "b").mkdir()
        shutil.copytree(tiny_model_dir, tmp_path / "b" / "model")
        store, pid, killed = run(tmp_path / "b" / "ws", server, 30, random.Random(1234))
        served = dict(server.served)
    from collections import Counter
    print(f"{len(killed)} kills, by phase: {dict(Counter(p for p, _ in killed))}; requests served twice: "
          f"{sum(n > 1 for n in served.values())}")
    assert len(killed) >= 20, f"only {len(killed)} kills happened before the run ended"
    assert {p for p, _ in killed} >= {"explain", "revise", "train", "evaluate"}, killed
    assert [r["status"] for r in store.rounds.list(pid)] == ["done"] * 5
    assert metrics_of(store, pid) == reference  # the same numbers ...
    assert adapter_digest(store, pid) == ref_weights  # ... from the very same student weights
    revisions = store.revisions.list(pid)
    assert len(revisions) == 30 and all(len(store.reviews.list(r["id"])) == 1 for r in revisions)  # none lost
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    keys = [r[0] for r in store.db.execute("SELECT cache_key FROM teacher_calls WHERE project_id=? AND cached=0",
                                           [pid])]
    assert len(keys) == len(set(keys)) == 30  # the ledger paid each request once
    twice = [k for k, n in served.items() if n > 1]  # only a reply in flight at a kill may be sent again
    assert len(twice) <= sum(p == "revise" for p, _ in killed), (len(twice), killed)
    assert max(served.values()) <= 2
