"""The fit check: a student, teacher and task that cannot learn together are refused before any round (the CLI, the
worker, the service's start, the guided setup) with what does not fit and the way out; an override is deliberate
and lands in the job log; the check reads counts and files, never a model."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, tiny_project
from elad_engine.accounts import User
from elad_engine.config import ProjectConfig
from elad_engine.errors import ConfigError
from elad_engine.projects import demo_config, import_file
from elad_engine.rounds.fit_check import DataFacts, MisfitError, enforce, fit_of, project_fit
from elad_engine.service import Studio
from elad_engine.store import Store
from elad_engine.tasks.datasets import read_dataset

SAMPLE = REPO / "tests" / "data" / "gsm8k_sample.jsonl"


def checks(findings) -> set[str]:
    return {str(f.check) for f in findings if f.refuses}


def gsm8k(store: Store, name: str = "g", config: ProjectConfig | None = None, split: str = "auto") -> int:
    pid, _ = import_file(store, name, SAMPLE, preset="gsm8k", split=split, config=config)
    return pid


def test_the_embedded_demo_fits(tmp_path):
    store = Store(tmp_path / "ws")
    from elad_engine.projects import create_demo_project
    pid = create_demo_project(store, pool=40, test=20)
    assert project_fit(store, pid) == []


def test_the_demo_student_and_the_oracle_on_a_published_dataset_are_refused_with_the_way_out(tmp_path):
    store = Store(tmp_path / "ws")
    pid = gsm8k(store)  # the defaults a new project gets: the shipped demo student, the oracle
    findings = project_fit(store, pid)
    assert checks(findings) == {"demo-student", "oracle-without-chains"}
    demo = next(f.message for f in findings if f.check == "demo-student")
    assert "pre-trained from scratch on the embedded arithmetic task alone" in demo
    assert "of this dataset's question tokens are unknown to it" in demo  # measured with its tokenizer
    assert "SmolLM2-135M-Instruct" in demo and "Qwen/Qwen2.5-0.5B-Instruct" in demo  # the way out
    oracle = next(f.message for f in findings if f.check == "oracle-without-chains")
    assert "96 of this dataset's 96 rows have none" in oracle and "teacher.kind = 'reference'" in oracle
    with pytest.raises(MisfitError, match=r"\[demo-student\]") as refused:
        enforce(findings, store.projects.config(pid))
    assert "rounds.allow_misfit" in str(refused.value)


def test_a_pretrained_student_with_the_reference_teacher_fits(tiny_pretrained_dir, tmp_path):
    store = Store(tmp_path / "ws")
    cfg = ProjectConfig().with_overrides(**{"student.path": str(tiny_pretrained_dir), "teacher.kind": "reference"})
    pid = gsm8k(store, config=cfg)
    assert project_fit(store, pid) == []


def test_answers_only_a_missing_test_split_and_chat_without_exemplars_are_refused(tiny_pretrained_dir, tmp_path):
    store = Store(tmp_path / "ws")
    bare = tmp_path / "bare.csv"
    with open(bare, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "answer"])
        w.writerows([[f"What is {i} + {i}?", str(2 * i)] for i in range(30)])
    student = {"student.path": str(tiny_pretrained_dir)}
    cfg = ProjectConfig().with_overrides(**student, **{"teacher.kind": "reference"})
    pid, _ = import_file(store, "bare", bare, answer_type="number", config=cfg)
    findings = project_fit(store, pid)
    assert checks(findings) == {"answers-only", "no-exemplars"}
    answers = next(f.message for f in findings if f.check == "answers-only")
    assert "none of the 24 pool rows has one (only final answers)" in answers
    exemplars = next(f.message for f in findings if f.check == "no-exemplars")
    assert "shown 3 worked exemplars" in exemplars and "the pool has 0" in exemplars
    no_test = gsm8k(store, "pool-only", cfg, split="pool")
    assert checks(project_fit(store, no_test)) == {"no-test-split"}
    assert "0 test rows" in project_fit(store, no_test)[0].message
    zero_shot = gsm8k(store, "zero-shot", cfg.with_overrides(**{"student.few_shot": 0}))
    message = next(f.message for f in project_fit(store, zero_shot) if f.check == "no-exemplars")
    assert message.startswith("student.few_shot = 0 with a chat student")


def test_a_partial_reference_is_a_note_not_a_refusal(tiny_pretrained_dir, tmp_path):
    rows = read_dataset(SAMPLE, preset="gsm8k")
    rows[0].rationale = None
    cfg = ProjectConfig().with_overrides(**{"student.path": str(tiny_pretrained_dir), "teacher.kind": "reference"})
    findings = fit_of(Store(tmp_path / "ws"), cfg, DataFacts.of(rows))
    assert [(str(f.check), f.refuses) for f in findings] == [("answers-only", False)]
    assert "only a final answer" in findings[0].message


def test_the_check_reads_no_model_and_takes_seconds(tmp_path):
    store = Store(tmp_path / "ws")
    pid = gsm8k(store)
    t0 = time.perf_counter()
    findings = project_fit(store, pid)
    assert findings and time.perf_counter() - t0 < 5.0


def test_start_refuses_before_anything_is_queued_and_an_override_is_logged(tiny_model_dir, tmp_path):
    studio = Studio.open(tmp_path / "ws", User.system("test"))
    store = Store(tmp_path / "ws")
    pid = gsm8k(store)
    with pytest.raises(MisfitError):
        studio.rounds.start(pid)
    assert store.jobs.list(pid) == []
    assert {f["check"] for f in studio.rounds.fit(pid) if f["refuses"]} == {"demo-student", "oracle-without-chains"}
    with pytest.raises(ConfigError, match="allow_misfit names 'demo'"):
        studio.projects.set(pid, **{"rounds.allow_misfit": "demo"})
    # an experiment, on purpose: both checks overridden; the log says so before the round begins
    pid2 = tiny_project(store, tiny_model_dir, name="override", pool=12, test=4,
                        **{"rounds.rounds": 0, "rounds.warmup": 0})
    store.examples.add(pid2, read_dataset(SAMPLE, preset="gsm8k", split="pool")[:4], source="gsm8k rows")
    studio.projects.set(pid2, **{"rounds.allow_misfit": "all"})
    lines: list[str] = []
    outcome = studio.rounds.run(pid2, log=lines.append)
    assert outcome.stop_reason == "completed"
    assert any(line.startswith("fit check OVERRIDDEN by rounds.allow_misfit (oracle-without-chains)")
               for line in lines)
    assert lines.index(next(ln for ln in lines if "OVERRIDDEN" in ln)) < lines.index("round 0: evaluate")


def test_the_cli_round_and_fit_commands_refuse_with_exit_2(tmp_path):
    ws = tmp_path / "ws"
    gsm8k(Store(ws))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    fit = subprocess.run([sys.executable, "-m", "elad_engine", "fit", "--workspace", str(ws), "--project", "g"],
                         capture_output=True, text=True, env=env)
    assert fit.returncode == 2 and "refused [demo-student]: the shipped demo student" in fit.stdout
    run = subprocess.run([sys.executable, "-m", "elad_engine", "round", "--workspace", str(ws), "--project", "g"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 2 and "cannot learn as configured" in run.stderr and "[oracle-without-chains]" in \
        run.stderr
    assert Store(ws).rounds.list(1) == []  # nothing ran


def test_a_demo_config_check_on_a_fresh_setup_preview(tmp_path):
    """The guided setup checks parsed rows before they are imported: nothing is written."""
    studio = Studio.open(tmp_path / "ws", User.system("test"))
    examples, problems = studio.projects.preview_file(SAMPLE, preset="gsm8k")
    assert problems == []
    found = studio.projects.check_fit(examples, demo_config())
    assert {f["check"] for f in found if f["refuses"]} == {"demo-student", "oracle-without-chains"}
    assert studio.projects.names() == []


def test_a_student_that_cannot_be_read_is_a_finding_not_a_crash(tmp_path):
    store = Store(tmp_path / "ws")
    cfg = ProjectConfig().with_overrides(**{"student.path": str(tmp_path / "no-such-model"),
                                            "teacher.kind": "reference"})
    pid = gsm8k(store, config=cfg)
    findings = project_fit(store, pid)
    assert checks(findings) == {"no-student"}
    assert "the student cannot be read" in findings[0].message and "no-such-model" in findings[0].message
    with pytest.raises(ConfigError):
        enforce(findings, cfg)
