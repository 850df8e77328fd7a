"""Issue 18, leases with fencing: a worker frozen past its lease (SIGSTOP: its heartbeat stalls with it) is
replaced by a second worker, which finishes the round; when the first one wakes, every write it tries for that job
is refused (the job's lease generation moved on), and the round equals an uninterrupted run."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

from test_worker import wait_for

from conftest import REPO, tiny_project
from elad_engine.jobs.queue import enqueue_rounds
from elad_engine.jobs.worker import run_worker
from elad_engine.store import Store

SETTINGS = {"rounds.rounds": 2}


def worker(ws, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "elad_engine", "worker", "--workspace", str(ws), "--stale-after",
                             "3"], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=log,
                            stderr=subprocess.STDOUT)


def outcome(ws) -> tuple:
    store = Store(ws)
    pid = store.projects.id_of("p")
    metrics = [(m["round"], m["accuracy"], m["correct"]) for m in store.metrics.list(pid)]
    shas = []
    for run in store.training_runs.list(pid):
        shas.append(hashlib.sha256(open(os.path.join(run["checkpoint"], "adapter_model.safetensors"), "rb")
                                   .read()).hexdigest())
    revisions = sorted((r["round"], r["example_id"], r["text"]) for r in store.revisions.list(pid))
    return metrics, shas, revisions, store.teacher_calls.spend(pid)["calls"]


def test_a_worker_frozen_past_its_lease_is_replaced_and_none_of_its_late_writes_land(tmp_path, tiny_model_dir):
    ref = tmp_path / "ref"
    tiny_project(Store(ref), tiny_model_dir, **SETTINGS)
    enqueue_rounds(Store(ref), Store(ref).projects.id_of("p"))
    run_worker(ref, once=True)  # the uninterrupted run

    ws = tmp_path / "ws"
    store = Store(ws)
    pid = tiny_project(store, tiny_model_dir, **SETTINGS)
    first_log, second_log = open(tmp_path / "first.log", "w"), open(tmp_path / "second.log", "w")
    first = worker(ws, first_log)
    second = None
    try:
        job_id = enqueue_rounds(store, pid)
        wait_for(lambda: store.jobs.get(job_id)["phase"] in ("explain", "score", "revise", "train")
                 and store.rounds.started(pid, 1), timeout=300)  # round 0 first: slow on a loaded machine
        frozen_at = store.jobs.get(job_id)
        os.kill(first.pid, signal.SIGSTOP)  # a stalled worker: its heartbeat and its job freeze together
        time.sleep(4)  # past the 3 s lease
        second = worker(ws, second_log)
        wait_for(lambda: store.jobs.get(job_id)["status"] == "done", timeout=300)
        done = store.jobs.get(job_id)
        assert done["worker_pid"] == second.pid and done["lease"] == frozen_at["lease"] + 1
        before = store.table_counts()
        os.kill(first.pid, signal.SIGCONT)  # it wakes mid-phase and tries to go on
        wait_for(lambda: "write(s) of this worker refused" in (tmp_path / "first.log").read_text(), timeout=60)
        time.sleep(3)
        assert store.table_counts() == before  # not one row more from the woken worker
        assert store.jobs.get(job_id) == done
    finally:
        for w in (first, second):
            if w is not None:
                w.send_signal(signal.SIGCONT)
                w.terminate()
                w.wait(10)
    text = (tmp_path / "first.log").read_text()
    refused = [line for line in text.splitlines() if "write(s) of this worker refused" in line]
    print("\n" + "\n".join(refused))
    assert refused and "lease" in refused[0]
    assert outcome(ws) == outcome(ref)  # same metrics, same adapters (sha256), same revisions, same teacher calls


def test_a_heartbeat_that_cannot_reach_the_database_logs_retries_and_gives_the_lease_up(tmp_path, caplog):
    """The heartbeat caught only StoreError, so a lock held past the busy timeout (sqlite3.OperationalError) killed
    its thread silently. Now every failure is logged and retried, and the job is told to stop once the lease is
    past; when the database answers again the heartbeat carries on."""
    import logging
    import sqlite3

    from elad_engine.jobs.heartbeat import Heartbeat

    store = Store(tmp_path / "ws")
    job = store.jobs.enqueue(None, "export", {})
    claimed = store.jobs.claim(os.getpid(), lease_s=1.5)
    caplog.set_level(logging.WARNING, logger="elad_engine")
    beat = Heartbeat(tmp_path / "ws", os.getpid(), lease_s=1.5).start()
    beat.hold(job, claimed["lease"])
    time.sleep(1.0)
    assert not beat.lost.is_set()  # renewed while the database answers
    locker = sqlite3.connect(tmp_path / "ws" / "elad.db", timeout=1)
    locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        wait_for(lambda: beat.lost.is_set(), timeout=10, every=0.1)
    finally:
        locker.rollback()
        locker.close()
    assert beat.failures >= 2
    assert any("heartbeat of worker" in r.message and "retrying" in r.message for r in caplog.records)
    assert any("not renewed" in r.message for r in caplog.records)
    failures = beat.failures
    time.sleep(1.5)
    assert beat.failures == failures  # the database answers again: the heartbeat goes on without errors
    beat.close()
