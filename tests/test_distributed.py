"""Several processes through accelerate, as 2 CPU ranks on gloo: the round loop launching `score` and `train` with
`accelerate launch` when compute.processes = 2, compared with the same work in one process."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import build_tiny_model, tiny_project

# fp32 training: bf16 autocast rounds a loss of ~4 to +-0.016, which would hide what the comparison checks
SETTINGS = {"compute.chunk_size": 5, "rounds.warmup": 12, "selection.round_budget": 6, "training.epochs": 4,
            "training.learning_rate": 1e-2, "training.precision": "fp32"}


def adapter_format(folder) -> dict:
    """What makes two adapters interchangeable: the files, the peft config, every tensor's name, shape, dtype."""
    from safetensors import safe_open

    tensors = {}
    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as f:
        for k in f.keys():
            t = f.get_tensor(k)
            tensors[k] = (tuple(t.shape), str(t.dtype))
    config = json.loads((folder / "adapter_config.json").read_text())
    config["target_modules"] = sorted(config["target_modules"])  # peft writes a set: its order varies by process
    return {"files": sorted(p.name for p in folder.iterdir()), "config": config, "tensors": tensors}


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory):
    """Dropout draws masks per batch shape, so a rank's half batch and one process's whole batch would differ."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-no-dropout"), dropout=0.0)


def test_round_loop_launches_scoring_and_training_on_two_processes(tmp_path, no_dropout_model):
    from elad_engine.backup import backup_workspace, restore_backup
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store

    store = Store(tmp_path / "ws")
    pid = tiny_project(store, no_dropout_model, **SETTINGS, **{"compute.processes": 2})
    logs: list[str] = []
    seen: list[tuple] = []
    t0 = time.time()
    out = RoundRunner(store, pid, log=logs.append, progress=lambda *p: seen.append(p)).run(max_rounds=1)
    assert out.stop_reason == "max_rounds", out.message
    warm = store.training_runs.get(pid, 0)
    assert {p["phase"]: p["detail"] for p in store.phases.list(pid, 0)}["train"].endswith("on 2 processes")
    assert warm["steps"] == 12  # 12 warm-up samples, batch 4, 4 epochs: the recipe of one process
    losses = warm["losses"]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.05, losses  # the synchronised training learns
    assert ("train", 12, 12) in seen  # the main rank's progress reached the worker's callback

    # The single-process reference starts from the very same state: a copy of the workspace after round 0.
    backup_workspace(store.workspace, tmp_path / "backup")
    restore_backup(tmp_path / "backup", tmp_path / "ws1")
    out = RoundRunner(store, pid, log=logs.append).run(max_rounds=1)
    assert out.stop_reason in ("max_rounds", "completed"), out.message
    launches = [x for x in logs if "accelerate launch" in x]
    assert [x.split(":")[1].strip() for x in launches] == ["train on 2 processes", "score on 2 processes",
                                                           "train on 2 processes"], launches
    details = {p["phase"]: p["detail"] for p in store.phases.list(pid, 1)}
    assert details["explain"].startswith("12 questions on 2 processes; format followed by ")  # 24 pool, 12 warm-up
    assert details["train"].endswith("on 2 processes")
    print(f"2-process rounds 0 and 1: {time.time() - t0:.0f} s")

    one = Store(tmp_path / "ws1")
    pid1 = one.projects.id_of("p")
    one.projects.set_config(pid1, one.projects.config(pid1).with_overrides(**{"compute.processes": 1}))
    out = RoundRunner(one, pid1).run(max_rounds=1)
    assert out.stop_reason in ("max_rounds", "completed"), out.message
    assert {p["phase"]: p["detail"] for p in one.phases.list(pid1, 1)}["explain"].startswith("12 questions; ")

    # Scores: every chunk reached the store once, and the sharded results are the one-process results.
    two_x = [dataclasses.asdict(x) for x in store.explanations.list(pid, 1)]
    one_x = [dataclasses.asdict(x) for x in one.explanations.list(pid1, 1)]
    assert len(two_x) == len(one_x) == 12 * 3  # greedy + 2 samples for each of the 12 unlabeled questions
    greedy = lambda xs: [x for x in xs if x["kind"] == "greedy"]
    assert greedy(two_x) == greedy(one_x)
    assert two_x == one_x  # sampled too: each chunk keeps its own seed whichever rank explains it
    score = lambda s: sorted((r["example_id"], r["strategy"], r["score"])
                             for r in s.scores.list(pid if s is store else pid1, 1))
    assert score(store) == score(one)
    selected = lambda s, p: [r["example_id"] for r in s.selections.list(p, 1)]
    assert selected(store, pid) == selected(one, pid1)

    # Training: the adapter of two processes is the adapter of one, in format; both runs learn alike.
    a2, a1 = store.training_runs.get(pid, 1), one.training_runs.get(pid1, 1)
    assert adapter_format(Path(a2["checkpoint"])) == adapter_format(Path(a1["checkpoint"]))
    assert Path(a2["checkpoint"]).is_relative_to(tmp_path / "ws")
    assert a2["steps"] == a1["steps"] == 20 and a2["samples"] == a1["samples"] == 18
    # the same gradient as one process (loss-token weighted shares): the same loss curve up to float rounding
    diffs = [abs(x - y) for x, y in zip(a2["losses"], a1["losses"])]
    print(f"per-step |loss(2 ranks) - loss(1)|: first {diffs[0]:.2e}, max {max(diffs):.2e}")
    assert max(diffs) < 1e-5, (a2["losses"], a1["losses"])
    from safetensors.torch import load_file
    w2, w1 = (load_file(str(Path(a["checkpoint"]) / "adapter_model.safetensors")) for a in (a2, a1))
    worst = max(float((w2[k] - w1[k]).abs().max()) for k in w1)
    print(f"largest adapter weight difference: {worst:.2e}")
    assert worst < 1e-4
    m2 = {m["round"]: m for m in store.metrics.list(pid)}[1]
    assert m2["accuracy"] is not None  # the two-process student loads and is evaluated like any other


def test_a_failed_launch_names_the_error_of_the_ranks(tmp_path, tiny_model_dir):
    from elad_engine.config import ComputeConfig
    from elad_engine.errors import EladError
    from elad_engine.store import Store
    from elad_engine.student.distributed import launch_command, run_launched

    store = Store(tmp_path / "ws")
    tiny_project(store, tiny_model_dir)
    cmd = launch_command(ComputeConfig(processes=2), ["train", "--workspace", str(store.workspace), "--project", "p",
                                                      "--round", "3"])
    with pytest.raises(EladError, match="train on 2 processes failed: --round 3: project 'p' is at round 0"):
        run_launched(cmd, lambda *p: None, lambda: False, "train on 2 processes")


def test_cancel_stops_the_whole_launched_group():
    from elad_engine.student.distributed import LaunchCancelled, run_launched

    marker = "import time, subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    cmd = [sys.executable, "-c", marker + "print('started', flush=True); time.sleep(120)"]
    t0 = time.time()
    with pytest.raises(LaunchCancelled):
        run_launched(cmd, lambda *p: None, lambda: time.time() - t0 > 1.0, "sleep")
    assert time.time() - t0 < 20
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "time.sleep(120)"], capture_output=True, text=True).stdout.split()
    assert not left, f"processes of the group still run: {left}"


def test_compute_config_is_checked(tmp_path):
    from elad_engine.config import ProjectConfig
    from elad_engine.errors import ConfigError

    for text, refused in (("distributed_type: FSDP\nmixed_precision: 'no'\n", "FSDP and DeepSpeed ZeRO-3"),
                          ("distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 3\n", "ZeRO-3"),
                          ("distributed_type: MULTI_GPU\nmixed_precision: bf16\n", "mixed_precision = 'bf16'"),
                          ("distributed_type: [unclosed\n", "not a readable accelerate config")):
        (tmp_path / "acc.yaml").write_text(text)
        with pytest.raises(ConfigError, match=refused):
            ProjectConfig().with_overrides(**{"compute.accelerate_config": str(tmp_path / "acc.yaml")})
    for example in ("deploy/accelerate-ddp.yaml", "deploy/accelerate-deepspeed-zero2.yaml"):
        ProjectConfig().with_overrides(**{"compute.accelerate_config": example})  # the shipped examples pass

    with pytest.raises(ConfigError, match="compute.processes = 0 is out of range"):
        ProjectConfig().with_overrides(**{"compute.processes": 0})
    with pytest.raises(ConfigError, match="compute.accelerate_config = .*no such file"):
        ProjectConfig().with_overrides(**{"compute.accelerate_config": str(tmp_path / "missing.yaml")})


def test_the_worker_launches_training_and_the_rounds_page_shows_it(tmp_path, tiny_model_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import REPO
    from elad_engine.jobs.queue import enqueue_rounds
    from elad_engine.jobs.worker import run_worker
    from elad_engine.store import Store

    store = Store(tmp_path / "ws")
    # Through an accelerate config file this time (the repository's DDP example; on CPUs its ranks use gloo).
    pid = tiny_project(store, tiny_model_dir, **SETTINGS, **{"compute.processes": 2, "rounds.rounds": 0,
                                                             "compute.accelerate_config": "deploy/accelerate-ddp.yaml"})
    job_id = enqueue_rounds(store, pid)
    assert run_worker(tmp_path / "ws", once=True) == 1
    job = store.jobs.get(job_id)
    assert job["status"] == "done", job
    lines = [r["line"] for r in store.jobs.log_lines(job_id)]
    launch = next(x for x in lines if "accelerate launch" in x)
    assert launch.startswith("round 0: train on 2 processes: accelerate launch --num_processes 2 ")
    assert f"--config_file {REPO / 'data' / 'deploy' / 'accelerate-ddp.yaml'} -m elad_engine train" in launch
    assert store.training_runs.get(pid, 0)["steps"] == 12

    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    monkeypatch.chdir(REPO)
    at = AppTest.from_file(str(REPO / "app_pages" / "rounds.py"), default_timeout=60)
    at.session_state["project"] = "p"
    at.run()
    assert not at.exception
    assert any("on **2 processes** through `accelerate launch` with `deploy/accelerate-ddp.yaml`" in c.value
               for c in at.caption)
    assert any("train on 2 processes: accelerate launch" in c.value for c in at.code)


def test_ranks_exit_when_the_worker_that_launched_them_is_killed(tmp_path, tiny_model_dir):
    import os
    import signal

    from conftest import REPO
    from elad_engine.store import Store

    store = Store(tmp_path / "ws")
    pid = tiny_project(store, tiny_model_dir, **{**SETTINGS, "compute.processes": 2, "training.epochs": 1000})
    store.close()
    # A stand-in worker: runs the round loop, which launches the (long) warm-up training on 2 ranks.
    code = ("import sys; from elad_engine.store import Store; from elad_engine.rounds.loop import RoundRunner; "
            f"s = Store({str(tmp_path / 'ws')!r}); RoundRunner(s, s.projects.id_of('p')).run()")
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    ranks = lambda: subprocess.run(["pgrep", "-f", f"elad_engine train --workspace {tmp_path / 'ws'}"],
                                   capture_output=True, text=True).stdout.split()
    end = time.time() + 120
    while len(ranks()) < 2 and time.time() < end:
        time.sleep(0.5)
    assert len(ranks()) >= 2, "the launch never started"
    time.sleep(3)  # into training
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    end = time.time() + 30
    while ranks() and time.time() < end:
        time.sleep(0.5)
    assert not ranks(), "ranks outlived the worker that launched them"
    assert Store(tmp_path / "ws").training_runs.get(pid, 0) is None  # nothing half-written was recorded


def test_a_rank_that_prints_nothing_still_exits_with_its_launcher():
    import os

    from conftest import REPO

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a launcher pid that no longer exists
    code = ("import time; from elad_engine.student.distributed import exit_with_launcher; exit_with_launcher(); "
            "time.sleep(60)")
    rank = subprocess.Popen([sys.executable, "-c", code], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO), ELAD_LAUNCHED_BY=str(gone.pid)))
    assert rank.wait(timeout=20) == 3


def test_only_score_and_train_run_as_ranks(tmp_path):
    import os

    from conftest import REPO

    for command in (["round", "--project", "p"], ["worker", "--once"]):
        run = subprocess.run([sys.executable, "-m", "elad_engine", *command, "--workspace", str(tmp_path / "ws")],
                             cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), WORLD_SIZE="2"),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and "must not run under `accelerate launch`" in run.stderr, run.stderr
    assert not (tmp_path / "ws").exists()  # refused before anything was created


def test_a_moved_accelerate_config_keeps_the_project_readable_and_stops_the_launch(tmp_path, tiny_model_dir):
    from elad_engine.errors import ConfigError
    from elad_engine.store import Store
    from elad_engine.student.distributed import launch_command

    acc = tmp_path / "acc.yaml"
    acc.write_text("distributed_type: MULTI_GPU\nmixed_precision: 'no'\n")
    store = Store(tmp_path / "ws")
    pid = tiny_project(store, tiny_model_dir, **{"compute.processes": 2, "compute.accelerate_config": str(acc)})
    acc.unlink()
    cfg = store.projects.config(pid)  # still loads: the file is checked when set and before a launch, not on every read
    with pytest.raises(ConfigError, match="acc.yaml'.*no such file"):
        launch_command(cfg.compute, ["train"])
