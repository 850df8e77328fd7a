"""The efficiency benchmark's --quick mode writes every output, well-formed (slow: a few minutes)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_quick_efficiency_benchmark_writes_csv_png_and_table(tmp_path):
    out = tmp_path / "eff"
    run = subprocess.run([sys.executable, "-m", "benchmarks.efficiency", "--quick", "--out", str(out)], cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = list(csv.DictReader(open(out / "efficiency.csv")))
    combos = {(r["strategy"], r["annotation"], r["seed"]) for r in rows}
    assert len(combos) == 10 and {r["round"] for r in rows} == {"0", "1"}
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and int(r["completion_tokens"]) >= 0
    assert (out / "efficiency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "efficiency.md").read_text()
    assert table.count("\n| ") == 11  # header + 10 rows
    assert "Target: the final accuracy of random + full" in table
