"""Issue 18, a full disk: the worker runs under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, as a full disk or
a quota looks to a process: EFBIG on the write that would pass it). The round stops with one clear error naming
what could not be written; with the limit lifted, resuming completes the round, nothing lost or doubled, and the
result equals an uninterrupted run. A checkpoint is only ever loaded when its sha256 matches the one recorded."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time

import pytest
from test_leases import outcome

from conftest import REPO, tiny_project
from elad_engine.jobs.queue import enqueue_rounds
from elad_engine.jobs.worker import run_worker
from elad_engine.store import Store

SETTINGS = {"rounds.rounds": 1}


def limited_worker(ws, limit: int) -> subprocess.CompletedProcess:
    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG on the write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "elad_engine", "worker", "--workspace", str(ws), "--once",
                           "--stale-after", "1"], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          preexec_fn=limit_files, capture_output=True, text=True, timeout=600)


LIMITS = (100_000, 300_000, 600_000)  # bytes: the database is about 213 KB at the start, its WAL grows to about 1 MB


def test_a_full_disk_stops_the_round_with_one_clear_error_and_resuming_completes_it(tmp_path, tiny_model_dir):
    ref = tmp_path / "ref"
    tiny_project(Store(ref), tiny_model_dir, **SETTINGS)
    enqueue_rounds(Store(ref), Store(ref).projects.id_of("p"))
    run_worker(ref, once=True)
    failed_in = []
    for limit in LIMITS:
        ws = tmp_path / f"ws-{limit}"
        store = Store(ws)
        pid = tiny_project(store, tiny_model_dir, **SETTINGS)
        job = enqueue_rounds(store, pid)
        run = limited_worker(ws, limit)
        said = (store.jobs.get(job)["error"] or "") + run.stderr
        assert "Traceback" not in run.stderr, run.stderr[-2000:]
        assert ("could not write the workspace database" in said or "could not write the checkpoint" in said), said
        assert "is the disk full, or a file size limit reached?" in said
        found = re.search(r"failed in phase (\S+):", run.stderr)
        label = {"-": "starting the job"}.get(found.group(1), found.group(1)) if found else "claiming the job"
        failed_in.append((limit, label))
        # space returns: the next worker resumes the round (the stopped job's lease has run out)
        time.sleep(1.2)
        if store.jobs.get(job)["status"] == "failed":
            enqueue_rounds(store, pid)
        run_worker(ws, once=True, stale_s=1)
        assert [r["status"] for r in store.rounds.list(pid)] == ["done", "done"], limit
        assert outcome(ws) == outcome(ref), limit  # nothing lost or doubled
        assert not list((ws / "artifacts").rglob("*.tmp-*"))  # no half-written checkpoint folder left
    print("\n" + "\n".join(f"file size limit {limit:>7,} bytes: failed in {phase}" for limit, phase in failed_in))
    assert len({phase for _, phase in failed_in}) >= 2  # the limits reach different phases


def test_a_damaged_checkpoint_is_never_loaded(tmp_path, tiny_model_dir):
    from elad_engine.errors import StudentError
    from elad_engine.rounds.context import RoundContext

    store = Store(tmp_path / "ws")
    pid = tiny_project(store, tiny_model_dir, **SETTINGS)
    enqueue_rounds(store, pid)
    run_worker(tmp_path / "ws", once=True)
    run = store.training_runs.get(pid, 0)
    assert len(run["checkpoint_sha256"]) == 64
    weights = next(iter(__import__("pathlib").Path(run["checkpoint"]).glob("*.safetensors")))
    weights.write_bytes(weights.read_bytes()[:-100])  # cut short, as a write that ran out of space
    with pytest.raises(StudentError, match="does not match the sha256 recorded when it was written"):
        RoundContext(store, pid).student_for(1)
    from elad_engine.rounds.phases.train import intact
    assert not intact(run["checkpoint"], run["checkpoint_sha256"])  # a rerun of the round trains it again


def mount_namespaces_work() -> bool:
    return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not mount_namespaces_work(), reason="needs `unshare -rm` (user and mount namespaces) for a tmpfs")
def test_a_checkpoint_that_cannot_be_written_stops_the_round_and_the_resume_trains_it_again(tmp_path, tiny_model_dir):
    """The database has room but the round's checkpoint folder does not (a 40 KB tmpfs over round-1/, in a mount
    namespace of the worker's own; the adapter is about 67 KB): one error names the checkpoint, nothing half-written
    is kept, and with the space back the resumed round trains again and equals the uninterrupted run."""
    ref = tmp_path / "ref"
    tiny_project(Store(ref), tiny_model_dir, **SETTINGS)
    enqueue_rounds(Store(ref), Store(ref).projects.id_of("p"))
    run_worker(ref, once=True)
    ws = tmp_path / "ws"
    store = Store(ws)
    pid = tiny_project(store, tiny_model_dir, **SETTINGS)
    job = enqueue_rounds(store, pid)
    small = ws / "artifacts" / "p" / "round-1"
    small.mkdir(parents=True)
    worker = f"{sys.executable} -m elad_engine worker --workspace {ws} --once --stale-after 1"
    run = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=40k tmpfs {small} && exec {worker}"],
                         cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                         timeout=600)
    failed = store.jobs.get(job)
    assert failed["status"] == "failed" and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert failed["error"].startswith(f"could not write the checkpoint {small / 'adapter'}"), failed["error"]
    assert "is the disk full, or a file size limit reached?" in failed["error"]
    assert store.training_runs.get(pid, 1) is None  # nothing registered for round 1
    assert not list(small.iterdir())  # outside the namespace: nothing half-written under round-1/
    enqueue_rounds(store, pid)  # the space is back: resume
    run_worker(ws, once=True, stale_s=1)
    assert outcome(ws) == outcome(ref)
    assert not list((ws / "artifacts").rglob("*.tmp-*"))
