"""Every other benchmark the READMEs cite, at toy scale, so that none can break unseen: the teacher's throughput,
revision against full annotation, training memory, the reference teacher on a real student's explanations and the
real-model tables (on the GSM8K sample and tiny models instead of SmolLM2 and ../shared). The app benchmark's toy
run is in test_sql_side.py."""

from __future__ import annotations

import json
import shutil

from conftest import REPO

SAMPLE = REPO / "tests" / "data" / "gsm8k_sample.jsonl"


def rows_of(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("|---")]


def test_the_teacher_benchmark_makes_its_calls_then_none_from_the_cache(capsys):
    from benchmarks.teacher import main

    main(["--requests", "6", "--latency", "0.01", "--concurrency", "3"])
    out = capsys.readouterr().out
    first = next(r for r in rows_of(out) if r.startswith("| first run"))
    second = next(r for r in rows_of(out) if r.startswith("| second identical run"))
    assert first.split("|")[3].strip() == "6" and first.split("|")[4].strip() == "6"  # calls made, revisions ok
    assert second.split("|")[3].strip() == "0"  # the request cache answers all
    assert "server saw 6 chat calls in all" in out


def test_the_revision_against_full_benchmark_prints_both_annotations(capsys):
    from benchmarks.revision_vs_full import main

    main(["--pool", "24", "--epochs", "1"])
    out = capsys.readouterr().out
    assert "identical texts:" in out and "median completion tokens, revision / full:" in out
    assert [r.split("|")[1].strip() for r in rows_of(out)][1:3] == ["revision", "full"]


def test_the_training_memory_benchmark_reports_peak_memory_and_speed(tiny_chat_model_dir, capsys):
    from benchmarks.training_memory import main

    assert main(["--student", str(tiny_chat_model_dir), "--data", str(SAMPLE), "--samples", "8", "--batch", "4",
                 "--max-length", "512"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["steps"] == 2 and r["peak_rss_mb"] >= r["rss_after_load_mb"] > 0 and r["tokens_per_s"] > 0


def test_the_reference_teacher_benchmark_sorts_every_explanation(tiny_pretrained_dir, capsys):
    from benchmarks.reference_teacher import main

    assert main(["--student", str(tiny_pretrained_dir), "--questions", "4", "--max-new-tokens", "16",
                 "--data", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    verdicts = [r for r in rows_of(out) if r.startswith(("| confirmed", "| revised", "| rewritten"))]
    assert sum(int(r.split("|")[2]) for r in verdicts) == 4
    assert "median revision / median full annotation:" in out


def test_the_real_models_benchmark_prints_compliance_and_phase_tables(tiny_pretrained_dir, tmp_path, capsys):
    from benchmarks.real_models import main

    gsm8k = tmp_path / "gsm8k"
    gsm8k.mkdir()
    for name in ("train.jsonl", "test.jsonl"):
        shutil.copy(SAMPLE, gsm8k / name)
    assert main(["--student", str(tiny_pretrained_dir), "--questions", "3", "--max-new-tokens", "12",
                 "--rounds-pool", "40", "--gsm8k", str(gsm8k)]) == 0
    out = capsys.readouterr().out
    compliance = [r for r in rows_of(out) if r.startswith(("| synthetic", "| gsm8k"))]
    assert len(compliance) == 6  # 2 tasks x 3 prompt styles
    assert any(r.startswith("| 0 | train") for r in rows_of(out)) and "s in all" in out
