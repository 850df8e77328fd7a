"""The pool-scoring benchmark at toy scale: its paired engine/ceiling runs, its identical-results counts and its
per-part split (python -m pytest tests/test_scoring_benchmark.py)."""

import re

from benchmarks.scoring import compare, parts_table, report
from elad_engine.config import ProjectConfig
from elad_engine.student.model import Student


def test_the_scoring_benchmark_pairs_each_engine_run_with_a_ceiling_and_checks_identical_results(capsys, monkeypatch):
    import benchmarks.scoring

    monkeypatch.setattr(benchmarks.scoring, "CEILING_SECONDS", [0.3])  # a short ceiling is enough for the shape
    cfg = ProjectConfig()
    student = Student.load(cfg.student.path)
    r = compare(student, cfg, questions=3, engine_runs=2)
    assert len(r["engine_s"]) == 2 and len(r["ceilings"]) == 2 and all(c > 0 for c in r["ceilings"])
    assert r["greedy"] == 3 and r["same_texts"] == 3 and r["same_probes"] == 3
    assert r["samples"] == 3 * cfg.uncertainty.samples and r["same_samples"] == r["samples"]
    report(r, "the tiny student", 3, cfg, student.device)
    parts_table(student, cfg, 3, runs=1)
    out = capsys.readouterr().out
    engine_row = next(line for line in out.splitlines() if line.startswith("| engine"))
    assert "median of" in engine_row and engine_row.count("%") == 1
    assert "identical greedy explanations: 3 of 3" in out
    parts = dict(line.strip("|").rsplit("|", 1) for line in out.splitlines()[-20:] if line.startswith("| decode"))
    assert float(parts[" decode "]) > 0 and float(parts[" decode: feed "]) > 0
    cut, whole = re.search(r"top-p: ([\d,]+) sampled rows cut .*, ([\d,]+) sorted whole", out).groups()
    assert int(cut.replace(",", "")) + int(whole.replace(",", "")) > 0  # the sampled rows' top-p cuts, counted


def test_the_scoring_benchmark_compares_dtypes_each_against_its_own_ceiling(tiny_pretrained_dir, capsys):
    from benchmarks.scoring import main

    main(["--student", str(tiny_pretrained_dir), "--questions", "2", "--engine-runs", "1", "--max-new-tokens", "24",
          "--dtypes", "float32,bfloat16", "--ceiling-seconds", "0.2"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| naive", "| engine"))]
    assert [r.split(";")[0].split(")")[0] for r in rows] == ["| naive (bfloat16", "| engine (float32",
                                                              "| engine (bfloat16"]
    assert all(float(r.split("|")[5].replace(",", "")) > 0 for r in rows)  # each row's own dtype's ceiling
    assert "greedy answers that differ between float32 and bfloat16:" in out and "of 2 (" in out


def test_the_ceilings_only_table_loads_each_dtype_and_says_what_auto_picked(tiny_model_dir, capsys):
    from benchmarks.scoring import main

    main(["--student", str(tiny_model_dir), "--dtypes", "float32,bfloat16,auto", "--ceilings-only",
          "--ceiling-seconds", "0.2"])
    out = capsys.readouterr().out
    assert "native bfloat16" in out.splitlines()[0]
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ") and "x |" in line]
    assert [r[1].strip() for r in rows] == ["float32 (float32)", "bfloat16 (bfloat16)", "auto (float32)"]
    assert rows[0][3].strip() == "1.00x" and all(float(r[2].replace(",", "")) > 0 for r in rows)
