"""Students named by their Hugging Face id: a real hub-layout cache (models--org--name/snapshots/<sha>/, refs/main)
built from a tiny random Llama in a temporary HF_HOME, loaded by id with HF_HUB_OFFLINE=1 through the real
from_pretrained(repo_id) path; the commit pinned with the project and recorded with every checkpoint; a missing id
named as missing; downloads run by a worker job against a hub on loopback, with progress."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from elad_engine.accounts import User
from elad_engine.config import ProjectConfig
from elad_engine.errors import StudentError
from elad_engine.service import Studio
from elad_engine.store import Store
from elad_engine.student.hub import parse_hub_id
from hub_server import HubServer, hub_cache

REPO_ID = "tiny-org/tiny-llama"
SHA1, SHA2 = "1" * 40, "2" * 40
SAMPLE = REPO / "tests" / "data" / "gsm8k_sample.jsonl"


@pytest.fixture
def offline_hub(tmp_path, monkeypatch, tiny_pretrained_dir) -> Path:
    home = tmp_path / "hf"
    hub_cache(home, tiny_pretrained_dir, SHA1)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: a network call would fail loudly
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return home


def worker_against_hub(ws: Path, home: Path, model: Path) -> HubServer:
    """`elad worker --once` on `ws`, online, its hub a server on loopback that serves `model` as REPO_ID at SHA1."""
    with HubServer({REPO_ID: (SHA1, model)}) as hub:
        env = dict(os.environ, PYTHONPATH=str(REPO), HF_HOME=str(home), HF_ENDPOINT=hub.url)
        env.pop("HF_HUB_OFFLINE", None)
        done = subprocess.run([sys.executable, "-m", "elad_engine", "worker", "--once", "--workspace", str(ws)],
                              capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return hub


def test_hub_ids_are_told_apart_from_paths(tmp_path):
    assert parse_hub_id("Qwen/Qwen2.5-0.5B-Instruct").repo_id == "Qwen/Qwen2.5-0.5B-Instruct"
    ref = parse_hub_id("org/name@" + SHA1)
    assert (ref.repo_id, ref.revision, ref.pinned) == ("org/name", SHA1, True)
    assert not parse_hub_id("org/name@main").pinned
    for other in ("bundled:tiny-student", "student:smollm2-135m", "/models/x", "./x/y", "x.gguf", "a/b/c", "name"):
        assert parse_hub_id(other) is None
    (tmp_path / "org" / "name").mkdir(parents=True)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert parse_hub_id("org/name") is None  # a local folder of that name wins
    finally:
        os.chdir(cwd)


def test_a_student_loads_by_id_offline_from_the_cache(offline_hub):
    from elad_engine.student.model import Student

    student = Student.load(REPO_ID)
    assert student.model.name_or_path == REPO_ID  # the real from_pretrained(repo_id) path, not a folder
    assert student.tokenizer.chat_template
    with pytest.raises(StudentError) as missing:
        Student.load("tiny-org/not-here")
    text = str(missing.value)
    assert "not in the Hugging Face cache" in text and "HF_HUB_OFFLINE=1 forbids downloading it" in text
    assert str(offline_hub / "hub") in text


def test_the_commit_is_pinned_with_the_project_and_every_checkpoint(offline_hub, tiny_pretrained_dir, tmp_path):
    from elad_engine.export import export_round
    from elad_engine.rounds.loop import RoundRunner

    studio = Studio.open(tmp_path / "ws", User.system("test"))
    info = studio.students.describe(REPO_ID)
    assert (info["kind"], info["commit"], info["downloaded"], info["chat"]) == ("hub id", SHA1, True, True)
    cfg = studio.projects.new_config(REPO_ID, **{
        "teacher.kind": "reference", "student.max_new_tokens": 16, "student.probe_max_tokens": 3,
        "uncertainty.samples": 1, "rounds.warmup": 4, "rounds.rounds": 0, "training.epochs": 1,
        "training.batch_size": 4, "review.policy": "auto-approve", "student.few_shot": 1})
    lines = SAMPLE.read_text().splitlines()
    pool, test = tmp_path / "pool.jsonl", tmp_path / "test.jsonl"
    pool.write_text("\n".join(lines[:12]) + "\n")
    test.write_text("\n".join(lines[48:52]) + "\n")
    pid, _ = studio.projects.import_file("h", pool, preset="gsm8k", split="pool", config=cfg)
    studio.projects.import_file("h", test, preset="gsm8k", split="test")
    assert studio.projects.student_source(pid)["commit"] == SHA1  # pinned when the project was created
    hub_cache(offline_hub, tiny_pretrained_dir, SHA2)  # the hub moves on: refs/main names another commit
    (offline_hub / "hub" / "models--tiny-org--tiny-llama" / "refs" / "main").write_text(SHA2)
    store = Store(tmp_path / "ws")
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "completed", outcome.message
    assert store.training_runs.get(pid, 0)["base_model"] == f"{REPO_ID}@{SHA1}"  # the pinned one, not main
    adapter = export_round(store, pid, merged=False, gguf=False)["adapter"]
    conf = json.loads((adapter / "adapter_config.json").read_text())
    assert (conf["base_model_name_or_path"], conf["revision"]) == (REPO_ID, SHA1)
    # the card names the same base, and its peft snippet loads it by id at that commit, offline, as written
    card = (adapter.parent / "README.md").read_text()
    assert card.startswith(f"---\nbase_model: {REPO_ID}\nlibrary_name: peft\n")
    snippet = card.split("```python\n")[1].split("```")[0]
    assert f'from_pretrained("{REPO_ID}", revision="{SHA1}")' in snippet
    ran = subprocess.run([sys.executable, "-c", snippet], cwd=adapter.parent, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]


def test_the_cli_creates_a_project_by_id_offline_and_trains_it_without_a_network_call(offline_hub, tmp_path):
    ws = str(tmp_path / "ws")
    with HubServer({}) as hub:  # the endpoint the processes are given: every request to it is counted
        env = dict(os.environ, PYTHONPATH=str(REPO), HF_ENDPOINT=hub.url)

        def elad(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "elad_engine", *args, "--workspace", ws],
                                  capture_output=True, text=True, env=env, timeout=600)

        assert elad("import", str(SAMPLE), "--preset", "gsm8k", "--project", "p").returncode == 0
        made = elad("config", "--project", "p", "--set", f"student.path={REPO_ID}", "teacher.kind=reference",
                    "rounds.warmup=4", "rounds.rounds=0", "training.epochs=1", "student.max_new_tokens=8",
                    "student.few_shot=1", "evaluation.max_examples=4", "review.policy=auto-approve")
        assert made.returncode == 0, made.stderr
        status = elad("status", "--project", "p")
        assert f"student {REPO_ID} @ commit {SHA1} (pinned)" in status.stdout
        run = elad("round", "--project", "p")
        assert run.returncode == 0, run.stderr[-2000:]
        assert "stopped: completed" in run.stdout
    assert hub.requests == []  # loaded, trained and saved from the cache alone
    assert Store(tmp_path / "ws").training_runs.get(1, 0)["base_model"] == f"{REPO_ID}@{SHA1}"
    # the same offline, for an id the cache does not hold: it says exactly that
    assert elad("import", str(SAMPLE), "--preset", "gsm8k", "--project", "q").returncode == 0
    assert elad("config", "--project", "q", "--set", "student.path=tiny-org/not-here",
                "teacher.kind=reference").returncode == 0
    missing = elad("round", "--project", "q")
    assert missing.returncode == 2
    assert "student tiny-org/not-here is not in the Hugging Face cache" in missing.stderr + missing.stdout


def test_a_worker_job_downloads_a_missing_id_with_progress(tiny_pretrained_dir, tmp_path):
    served = tmp_path / "served"
    shutil.copytree(tiny_pretrained_dir, served)
    (served / "model.onnx").write_bytes(b"\0" * 4096)  # a file the engine never fetches
    ws = tmp_path / "ws"
    studio = Studio.open(ws, User.system("test"))
    job_id = studio.students.download(REPO_ID)
    assert studio.students.download(REPO_ID) == job_id  # one job per student at a time
    with pytest.raises(StudentError, match="is not a Hugging Face id"):
        studio.students.download("not an id")
    hub = worker_against_hub(ws, tmp_path / "hf", served)
    job = studio.students.job(job_id)
    assert job["status"] == "done", job["error"]
    assert job["result"]["commit"] == SHA1 and job["progress"] == job["total"] > 0
    assert not any("model.onnx" in path for _, path in hub.requests)
    snapshot = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-llama" / "snapshots" / SHA1
    assert (snapshot / "model.safetensors").is_file() and not (snapshot / "model.onnx").exists()


def test_the_first_round_downloads_a_missing_student_in_the_worker(tiny_pretrained_dir, tmp_path):
    ws = tmp_path / "ws"
    studio = Studio.open(ws, User.system("test"))
    cfg = ProjectConfig().with_overrides(**{"student.path": REPO_ID, "teacher.kind": "reference",
                                            "rounds.warmup": 0, "rounds.rounds": 0, "student.max_new_tokens": 8,
                                            "student.few_shot": 1})
    pid, _ = studio.projects.import_file("d", SAMPLE, preset="gsm8k", config=cfg)
    assert studio.projects.student_source(pid) is None  # not in the cache: nothing pinned yet
    studio.projects.set(pid, **{"evaluation.max_examples": 2})
    job_id = studio.rounds.start(pid)
    worker_against_hub(ws, tmp_path / "hf", tiny_pretrained_dir)
    job = studio.rounds.job(pid)
    assert (job["id"], job["status"]) == (job_id, "done"), job["error"]
    assert studio.projects.student_source(pid)["commit"] == SHA1
    assert any(f"student {REPO_ID}: {REPO_ID}@{SHA1}" in line["line"] for line in studio.rounds.job_log(job_id))
