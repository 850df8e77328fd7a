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
    command = [sys.executable, "-m", "benchmarks.efficiency", "--quick", "--jobs", "2", "--out", str(out)]
    run = subprocess.run(command, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = list(csv.DictReader(open(out / "efficiency.csv")))
    combos = {(r["strategy"], r["annotation"], r["seed"]) for r in rows}
    assert len(combos) == 12 and {r["round"] for r in rows} == {"0", "1"}
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and int(r["completion_tokens"]) >= 0
    assert (out / "efficiency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "efficiency.md").read_text()
    assert table.count("\n| ") == 13  # header + 12 rows
    assert "Target: the final accuracy of random + full" in table


def test_tokens_to_reach_follows_the_seed_mean_curve_and_the_questions_are_answered():
    from benchmarks.efficiency import ANNOTATIONS, STRATEGIES, Grid, summarise, tokens_to_reach

    curve = [{"seed": s, "round": k, "accuracy": a + d, "completion_tokens": t}
             for s, d in ((0, -0.02), (1, 0.02)) for k, a, t in ((0, 0.5, 0), (1, 0.6, 1000), (2, 0.7, 3000))]
    assert tokens_to_reach(curve, 0.5) == 0
    assert tokens_to_reach(curve, 0.65) == pytest.approx(2000)  # halfway between rounds 1 and 2
    assert tokens_to_reach(curve, 0.71) is None  # one seed reaches it, the mean does not

    grid = Grid(pool=0, test=0, rounds=1, warmup=0, budget=0, seeds=(0, 1))
    rows = [{"strategy": s, "annotation": a, "seed": seed, "round": k, "completion_tokens": 1000 * k,
             "accuracy": 0.5 + k * (0.1 if s == "elad" else 0.02) + 0.01 * seed}
            for s in STRATEGIES for a in ANNOTATIONS for seed in (0, 1) for k in (0, 1)]
    text = summarise(rows, grid)
    assert "Target: the final accuracy of random + full, 0.525" in text
    assert "Q1. Does elad + revision reach" in text and "Yes: it needs 200 (20% of random + full's)" in text
    assert "- revision: Yes: +8.0 points on average; per seed +8.0, +8.0." in text


def test_paired_bootstrap_and_the_area_under_the_curve():
    from benchmarks.efficiency import curve_area, paired_bootstrap

    ids = [f"t{i}" for i in range(100)]
    a = {0: set(ids[:60]), 1: set(ids[:60])}  # 60 of 100 right in both seeds
    b = {0: set(ids[10:60]), 1: set(ids[5:55])}  # 50 of 100, a subset of a's: a paired gain of 10 points
    point, low, high = paired_bootstrap(a, b, 100, draws=500)
    assert point == pytest.approx(0.10) and 0.0 < low < 0.10 < high < 0.2
    assert paired_bootstrap(a, a, 100, draws=200) == (0.0, 0.0, 0.0)
    assert paired_bootstrap({0: {"x"}}, {0: set()}, 4, draws=200)[0] == pytest.approx(0.25)  # unseen ids count
    line = [{"seed": 0, "round": k, "accuracy": 0.5 + 0.1 * k, "completion_tokens": 100 * k} for k in range(3)]
    assert curve_area(line, 0, 200) == pytest.approx(0.6)  # the mean height of a straight line from 0.5 to 0.7
    assert curve_area(line, 0, 300) is None  # past the curve's end
