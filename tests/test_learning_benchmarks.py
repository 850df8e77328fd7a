"""The learning benchmarks the READMEs cite (headroom, uncertainty, efficiency) at toy scale, on the embedded task
and on a real dataset's rows (the GSM8K fixture) with a pretrained-shaped student and the reference teacher: each
prints its table, writes its CSV, and with --resume runs nothing it already holds."""

from __future__ import annotations

import csv

import pytest

from conftest import REPO

SAMPLE = REPO / "tests" / "data" / "gsm8k_sample.jsonl"
FAST = ["--set", "student.max_new_tokens=24", "student.probe_max_tokens=3", "uncertainty.samples=2",
        "training.epochs=1", "training.batch_size=4", "student.batch_size=8"]


def real(student) -> list[str]:
    return ["--data", str(SAMPLE), "--preset", "gsm8k", "--student", str(student), "--teacher", "reference"]


def test_headroom_on_real_rows_writes_its_points_and_resumes_without_rerunning(tmp_path, tiny_pretrained_dir, capsys):
    from benchmarks.headroom import main

    out = tmp_path / "headroom"
    args = [*real(tiny_pretrained_dir), "--pool", "12", "--test", "8", "--sizes", "4", "--seeds", "0",
            "--out", str(out), *FAST, "student.few_shot=1"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "headroom.csv")))
    assert [(r["trained_on"], r["seed"]) for r in rows] == [("4", "0"), ("12", "0")]
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)
    text = capsys.readouterr().out
    assert "gsm8k_sample.jsonl (gsm8k), pool 12, test 8" in text and "reference teacher" in text
    assert "| 4 |" in text and "| 12 |" in text and "headroom from 4 to 12 samples" in text
    assert main([*args, "--resume"]) == 0  # both points are there: nothing runs again
    assert "resuming: 2 of 2 points" in capsys.readouterr().out
    assert (out / "headroom.md").read_text().startswith("# Headroom")


def test_headroom_on_the_embedded_task(capsys):
    from benchmarks.headroom import main

    assert main(["--pool", "12", "--test", "8", "--sizes", "4", "--epochs", "1", "--set", "training.batch_size=4"]) == 0
    out = capsys.readouterr().out
    assert "the embedded task, pool 12, test 8, student the shipped tiny student, oracle teacher" in out
    assert "headroom from 4 to 12 samples" in out


def test_uncertainty_scores_every_seed_and_resumes(tmp_path, tiny_pretrained_dir, capsys):
    from benchmarks.uncertainty import main

    out = tmp_path / "unc"
    args = [*real(tiny_pretrained_dir), "--pool", "16", "--test", "4", "--warmup", "4", "--seeds", "0,1",
            "--out", str(out), *FAST, "student.few_shot=1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    for seed in (0, 1):
        rows = list(csv.DictReader(open(out / f"scores-s{seed}.csv")))
        assert len(rows) == 16 - 4 - 1  # the pool less the warm-up and the one exemplar
        assert {"wrong", "inter", "perplexity", "answer_entropy"} <= set(rows[0])
    assert "| score | AUROC (greedy wrong), mean over seeds | per seed |" in text
    assert "| perplexity |" in text and "| inter |" in text
    assert main([*args, "--resume"]) == 0
    again = capsys.readouterr().out
    assert "resuming: seed 0 read from" in again and "resuming: seed 1 read from" in again


def test_efficiency_on_real_rows_with_some_runs_and_resume(tmp_path, tiny_pretrained_dir, capsys):
    from benchmarks.efficiency import main

    out = tmp_path / "eff"
    args = [*real(tiny_pretrained_dir), "--pool", "12", "--test", "6", "--rounds", "1", "--warmup", "4",
            "--budget", "4", "--seeds", "0", "--runs", "elad:revision,random:revision,random:full",
            "--out", str(out), *FAST, "student.few_shot=1"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "efficiency.csv")))
    assert {(r["strategy"], r["annotation"]) for r in rows} == {("elad", "revision"), ("random", "revision"),
                                                                ("random", "full")}
    assert {r["round"] for r in rows} == {"0", "1"}
    table = (out / "efficiency.md").read_text()
    assert "gsm8k_sample.jsonl (gsm8k)" in table and "Target: the final accuracy of random + full" in table
    assert "- full: not run" in table  # no elad:full in this grid
    assert (out / "efficiency.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    assert "resuming: 3 of 3 runs already in" in capsys.readouterr().out


def test_a_grid_without_random_full_or_with_an_unknown_strategy_is_refused():
    from benchmarks.efficiency import main

    with pytest.raises(SystemExit, match="needs random:full"):
        main(["--quick", "--runs", "elad:revision"])
    with pytest.raises(SystemExit, match="run best:revision"):
        main(["--quick", "--runs", "best:revision,random:full"])
