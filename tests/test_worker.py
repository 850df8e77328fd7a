"""The worker process: jobs queued in the store are run, report progress and a log, stop when asked, and a
job whose worker was killed is resumed by the next worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import REPO, tiny_project
from elad_engine.jobs.queue import enqueue_rounds, request_stop
from elad_engine.jobs.worker import run_worker
from elad_engine.store import Store


def wait_for(predicate, timeout: float = 120.0, every: float = 0.2):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    code = getattr(predicate, "__code__", None)
    where = f" (the condition at {os.path.basename(code.co_filename)}:{code.co_firstlineno})" if code else ""
    raise AssertionError(f"timed out waiting {timeout:.0f} s{where}")


def start_worker(ws, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "elad_engine", "worker", "--workspace", str(ws), *extra],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_a_queued_rounds_job_runs_with_progress_and_log(tmp_path, tiny_model_dir):
    store = Store(tmp_path / "ws")
    pid = tiny_project(store, tiny_model_dir)
    job_id = enqueue_rounds(store, pid)
    assert enqueue_rounds(store, pid) == job_id  # one rounds job per project at a time
    assert run_worker(tmp_path / "ws", once=True) == 1
    job = store.jobs.get(job_id)
    assert job["status"] == "done" and job["message"].startswith("Finished: the warm-up and 1 round are done"), job
    assert job["phase"] == "evaluate" and job["progress"] == job["total"] > 0
    lines = [r["line"] for r in store.jobs.log_lines(job_id)]
    assert "round 1: explain" in lines and lines[-1].startswith("stopped: completed")
    peaks = [float(line.rsplit("so far ", 1)[1].split()[0]) for line in lines if "peak memory" in line]
    assert len(peaks) == len(store.phases.list(pid)) and 0 < peaks[0] <= peaks[-1]  # each phase: its high-water mark
    assert any(line.startswith("round 1: train done in ") for line in lines)
    assert [r["round"] for r in store.rounds.list(pid)] == [0, 1]


def test_a_queued_job_stops_at_once_and_a_failed_job_says_why(tmp_path, tiny_model_dir):
    store = Store(tmp_path / "ws")
    pid = tiny_project(store, tiny_model_dir)
    job_id = enqueue_rounds(store, pid)
    request_stop(store, job_id, "cancelled")
    assert store.jobs.get(job_id)["status"] == "cancelled"
    bad = tiny_project(store, tiny_model_dir, name="no-test", test=0)
    failed = enqueue_rounds(store, bad)
    run_worker(tmp_path / "ws", once=True)
    job = store.jobs.get(failed)
    assert job["status"] == "failed" and "the project has no test split" in job["error"]
    assert "Traceback" not in job["error"]


def test_stop_at_a_safe_point_then_resume_in_a_worker_process(tmp_path, tiny_model_dir):
    ws = tmp_path / "ws"
    store = Store(ws)
    pid = tiny_project(store, tiny_model_dir, **{"rounds.rounds": 3})
    worker = start_worker(ws)
    try:
        job_id = enqueue_rounds(store, pid)
        # any phase will do: on an idle machine the 4 rounds take about 5 s, and an explain or revise phase of the
        # tiny student can pass between two looks
        wait_for(lambda: store.jobs.get(job_id)["phase"] is not None or store.jobs.get(job_id)["status"] in (
            "failed", "done"), every=0.05)
        assert store.jobs.get(job_id)["status"] == "running", store.jobs.get(job_id)  # a failure says why
        request_stop(store, job_id, "paused")
        wait_for(lambda: store.jobs.get(job_id)["status"] in ("paused", "done"))
        job = store.jobs.get(job_id)
        assert job["status"] == "paused", job
        # issue 17.4: a paused job read "cancelled: cancelled during round 1; rerun to resume"
        assert job["message"].startswith("Paused: stopped in round ") and "Resume goes on" in job["message"], job
        done_before = len([r for r in store.rounds.list(pid) if r["status"] == "done"])
        assert done_before < 4
        again = enqueue_rounds(store, pid)
        assert again != job_id
        wait_for(lambda: store.jobs.get(again)["status"] == "done", timeout=300)
        assert [r["status"] for r in store.rounds.list(pid)] == ["done"] * 4
    finally:
        worker.terminate()
        worker.wait(10)


def test_a_killed_workers_job_is_resumed_by_the_next_worker(tmp_path, tiny_model_dir):
    ws = tmp_path / "ws"
    store = Store(ws)
    pid = tiny_project(store, tiny_model_dir, **{"rounds.rounds": 2})
    first = start_worker(ws, "--stale-after", "3")
    job_id = enqueue_rounds(store, pid)
    wait_for(lambda: store.jobs.get(job_id)["phase"] in ("explain", "score", "revise", "train"))
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert store.jobs.get(job_id)["status"] == "running"  # as the killed worker left it
    second = start_worker(ws, "--stale-after", "3")
    try:
        wait_for(lambda: store.jobs.get(job_id)["status"] == "done", timeout=300)
        assert store.jobs.get(job_id)["worker_pid"] == second.pid
        assert [r["status"] for r in store.rounds.list(pid)] == ["done"] * 3
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        second.terminate()
        second.wait(10)
