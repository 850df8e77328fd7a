"""scripts/device_check.sh, the one script for the day a GPU is lent, runs end to end at toy size on a CPU: the CUDA
tests skip with their reason, the scoring benchmark prints its table, and the real-data grid writes its CSV."""

from __future__ import annotations

import csv
import os
import subprocess

import pytest

from conftest import REPO


@pytest.mark.slow  # about a minute: the three steps in subprocesses, the nested pytest included
def test_the_device_script_runs_end_to_end_at_toy_size(tmp_path, tiny_pretrained_dir):
    results = tmp_path / "results"
    env = dict(os.environ, DEVICE_CHECK_SCALE="toy", ELAD_STUDENT=str(tiny_pretrained_dir),
               CUDA_VISIBLE_DEVICES="")  # the toy run never touches a card, even where one is
    run = subprocess.run(["bash", str(REPO / "scripts" / "device_check.sh"), str(results)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    log = (results / "device_check.log").read_text()
    assert run.returncode == 0, log[-3000:]
    assert "no CUDA device (toy run?)" in log and "SKIPPED" in log and "no CUDA device is visible" in log
    assert "== scoring benchmark: exit 0" in log and "| engine (bfloat16" in log
    assert "== real-data grid: exit 0" in log and "device check: passed" in log
    rows = list(csv.DictReader(open(results / "grid" / "efficiency.csv")))
    assert {(r["strategy"], r["annotation"]) for r in rows} == {("elad", "revision"), ("random", "revision"),
                                                                ("random", "full")}
