"""The command line, as a user runs it: real subprocesses on a temporary workspace."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import GSM8K, REPO
from elad_engine.store import Store


def cli(*args: str, workspace=None, env=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    cmd = [sys.executable, "-m", "elad_engine", *args]
    if workspace is not None:
        cmd += ["--workspace", str(workspace)]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO, timeout=600)


def test_help_for_every_command():
    for command in ["demo", "init", "import", "round", "check-teacher", "status", "export", "config", "score",
                    "train", "worker", "backup", "user"]:
        out = cli(command, "--help")
        assert out.returncode == 0 and "--workspace" in out.stdout, command
    # the tiny student's build script; a wide terminal, so that argparse does not wrap the default path at a hyphen
    build = subprocess.run([sys.executable, str(REPO / "scripts" / "build_tiny_student.py"), "--help"],
                           capture_output=True, text=True, cwd=REPO, timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert build.returncode == 0 and "--out" in build.stdout and "tiny-student" in build.stdout, build.stderr


@pytest.mark.skipif(not (GSM8K / "test.jsonl").exists(), reason="GSM8K test file not found in ../shared/datasets")
def test_import_gsm8k(workspace):
    out = cli("import", str(GSM8K / "test.jsonl"), "--preset", "gsm8k", workspace=workspace)
    assert out.returncode == 0, out.stderr
    assert "imported 1319 rows" in out.stdout
    store = Store(workspace)
    pid = store.projects.id_of("default")
    examples = store.examples.list(pid)
    assert len(examples) == 1319 and examples[0].answer == "18"
    assert sum(store.examples.counts(pid).values()) == 1319


def test_refused_file_exits_nonzero_without_traceback_and_imports_nothing(workspace, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q1", "answer": "1"}\n{"question": "q2", "answer": "two"}\n')
    out = cli("import", str(bad), "--project", "p", workspace=workspace)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "bad.jsonl" in out.stderr and "row 2" in out.stderr
    store = Store(workspace)
    assert store.db["examples"].count == 0


def test_workspace_from_environment(tmp_path):
    ws = tmp_path / "from-env"
    out = cli("init", "--project", "envp", env={"ELAD_WORKSPACE": str(ws)})
    assert out.returncode == 0, out.stderr
    assert Store(ws).projects.id_of("envp") == 1


def test_config_set_validates(workspace):
    assert cli("init", "--project", "p", workspace=workspace).returncode == 0
    ok = cli("config", "--project", "p", "--set", "selection.strategy=random", "rounds.rounds=5", workspace=workspace)
    assert ok.returncode == 0 and 'strategy = "random"' in ok.stdout
    bad = cli("config", "--project", "p", "--set", "uncertainty.alpha=2", workspace=workspace)
    assert bad.returncode == 2 and "uncertainty.alpha = 2.0 is out of range" in bad.stderr
    assert Store(workspace).projects.config(1).uncertainty.alpha == 0.25


@pytest.mark.skipif(not (REPO / "data" / "tiny-student" / "config.json").exists(), reason="shipped student missing")
def test_demo_small_then_status_and_export(workspace):
    out = cli("demo", "--rounds", "1", "--warmup", "8", "--budget", "8", "--pool", "32", "--test", "16",
              workspace=workspace)
    assert out.returncode == 0, out.stderr
    assert "stopped: completed" in out.stdout
    lines = [ln.split() for ln in out.stdout.splitlines() if ln.strip()[:1].isdigit()]
    assert [ln[0] for ln in lines] == ["0", "1"]
    status = cli("status", "--project", "demo", workspace=workspace)
    assert status.returncode == 0 and "round 1: done" in status.stdout
    exp = cli("export", "--project", "demo", "--no-merged", workspace=workspace)
    assert exp.returncode == 0 and "adapter" in exp.stdout


def test_demo_with_an_openai_compatible_teacher(workspace):
    from teacher_server import TeacherServer

    from elad_engine.tasks.synthetic import default_dataset

    key = "sk-CLI-SENTINEL-93be0"
    flags = ["--teacher", "openai", "--model", "teacher-test", "--api-key-env", "ELAD_CLI_KEY"]
    with TeacherServer(default_dataset(32, 16), api_key=key) as server:
        flags += ["--base-url", server.base_url]
        missing = cli("demo", "--rounds", "1", "--warmup", "4", "--budget", "4", "--pool", "32", "--test", "16",
                      *flags, workspace=workspace)
        assert missing.returncode == 2 and "error: the environment variable ELAD_CLI_KEY is not set" in missing.stderr
        assert "Traceback" not in missing.stderr
        env = {"ELAD_CLI_KEY": key}
        out = cli("demo", "--rounds", "1", "--warmup", "4", "--budget", "4", *flags, workspace=workspace, env=env)
        assert out.returncode == 0, out.stderr
        assert "stopped: completed" in out.stdout and server.requests == 8
        check = cli("check-teacher", "--project", "demo", workspace=workspace, env=env)
        assert check.returncode == 0 and "serves 'teacher-test'" in check.stdout
        status = cli("status", "--project", "demo", workspace=workspace)
        assert "teacher: 8 paid calls" in status.stdout
    for text in (missing.stdout, missing.stderr, out.stdout, out.stderr, check.stdout, status.stdout):
        assert key not in text
    assert not [p for p in workspace.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]


BAD_FILES = {
    "missing_column.jsonl": (b'{"question": "q1", "answer": "1"}\n{"query": "q2", "answer": "2"}\n', "row 2"),
    "non_numeric.csv": (b"question,answer\nq1,1\nq2,12\nq3,twelve\n", "row 4"),
    "empty.jsonl": (b"", "empty"),
    "duplicate_ids.jsonl": (b'{"id": "a", "question": "q1", "answer": "1"}\n'
                            b'{"id": "b", "question": "q2", "answer": "2"}\n'
                            b'{"id": "a", "question": "q3", "answer": "3"}\n', "row 3"),
    "bad_utf8.jsonl": (b'{"question": "q1", "answer": "1"}\n{"question": "caf\xe9", "answer": "2"}\n', "row 2"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_import_is_refused_whole(name, tmp_path, capsys):
    from elad_engine.cli import main

    content, where = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    ws = tmp_path / "ws"
    args = ["import", str(path), "--project", "p", "--workspace", str(ws)]
    if name == "duplicate_ids.jsonl":
        args += ["--id", "id"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and name in err and where in err, err
    store = Store(ws)
    assert store.db["examples"].count == 0 and store.db["imports"].count == 0
    assert store.projects.find("p") is None  # a refused file does not even create the project


def test_students_are_listed_and_a_missing_gguf_is_refused(workspace, tmp_path):
    listed = cli("student", "list", workspace=workspace)
    assert listed.returncode == 0 and "bundled:tiny-student" in listed.stdout
    missing = cli("student", "add", "x", "--gguf", str(tmp_path / "nope.gguf"), workspace=workspace)
    assert missing.returncode == 2 and "is not a .gguf file" in missing.stderr and "Traceback" not in missing.stderr
    package = cli("student", "add", "x", "--gguf-package", "no_such_model_wheel", workspace=workspace)
    assert package.returncode == 2 and "no .gguf file in an installed package 'no_such_model_wheel'" in package.stderr
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    path_as_id = cli("student", "add", "x", "--gguf", str(tmp_path / "m.gguf"), "--base-model-id", str(tmp_path),
                     workspace=workspace)  # refused before the file is read: no path ever becomes an export's base
    assert path_as_id.returncode == 2 and "--base-model-id" in path_as_id.stderr and "org/name" in path_as_id.stderr
    assert Store(workspace).students.list() == []
