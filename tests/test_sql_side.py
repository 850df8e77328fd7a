"""What the pages read in SQL at scale (issue 19) equals what they computed in Python before: the score histogram,
the review queue's uncertainty column, the unlabeled pool, the first-error chart; and kept results follow new data."""

from __future__ import annotations

import random
import subprocess
import sys

from conftest import REPO
from elad_engine.config import ProjectConfig
from elad_engine.method.records import TeacherResult
from elad_engine.metrics import first_error_positions, score_histogram
from elad_engine.review.queue import QueueFilter, queue
from elad_engine.rounds.context import RoundContext
from elad_engine.states import Phase, PhaseStatus
from elad_engine.store import Store
from elad_engine.tasks.synthetic import generate


def scored_project(tmp_path, rounds: int = 3, pool: int = 120, chosen: int = 10):
    store = Store(tmp_path / "ws")
    pid = store.projects.create("p", ProjectConfig().with_overrides(**{"student.few_shot": 3}))
    data = generate(pool, 5, prefix="q")
    store.examples.add(pid, data, "test")
    rng = random.Random(1)
    for rnd in range(rounds):
        scores = {e.id: (rng.random(), {"intra": 0.1}) for e in data}
        store.scores.save(pid, rnd, "elad", scores)
        store.scores.save(pid, rnd, "random", {e.id: (rng.random(), {}) for e in data})
        top = sorted(scores, key=lambda i: -scores[i][0])[:chosen]
        store.selections.save(pid, rnd, "elad", [(i, scores[i][0]) for i in top])
        store.phases.set(pid, rnd, Phase.SELECT, PhaseStatus.DONE)
        for n, example_id in enumerate(top):
            result = TeacherResult([], (n % 3) or None, ["a step"], "1", 10, 5)
            store.revisions.save(pid, rnd, example_id, "revision", "oracle", result, "1. a step\nThe answer is 1.",
                                 "x", 0.0, "v")
    return store, pid, data


def python_histogram(store, pid, bins=30):
    rows = [s for s in store.scores.list(pid) if s["strategy"] == "elad" and s["round"] > 0]
    lo, hi = min(r["score"] for r in rows), max(r["score"] for r in rows)
    width = (hi - lo) / bins
    counts: dict[tuple, int] = {}
    for r in rows:
        chosen = {x["example_id"] for x in store.selections.list(pid, r["round"])}
        b = min(int((r["score"] - lo) / width), bins - 1)
        key = (r["round"], "selected" if r["example_id"] in chosen else "not selected", b)
        counts[key] = counts.get(key, 0) + 1
    return counts, lo, width


def test_the_score_histogram_counted_in_sql_equals_counting_every_score(tmp_path):
    store, pid, data = scored_project(tmp_path)
    bars = score_histogram(store, pid)
    want, lo, width = python_histogram(store, pid)
    got = {(b["round"], b["selected"], round((b["start"] - lo) / width)): b["samples"] for b in bars}
    assert got == want
    assert sum(b["samples"] for b in bars) == 2 * len(data)  # rounds 1 and 2; the warm-up round 0 is left out
    assert sum(b["samples"] for b in bars if b["selected"] == "selected") == 2 * 10
    # kept per phase version: a new round's scores show once its phase ends
    store.scores.save(pid, 3, "elad", {e.id: (0.5, {}) for e in data})
    store.phases.set(pid, 3, Phase.SCORE, PhaseStatus.DONE)
    assert sum(b["samples"] for b in score_histogram(store, pid)) == 3 * len(data)


def test_the_review_queue_reads_the_revised_samples_scores_only(tmp_path):
    store, pid, _ = scored_project(tmp_path)
    rows = queue(store, pid, QueueFilter(round=None, statuses=()))
    by_pair = {(s["round"], s["example_id"]): s["score"] for s in store.scores.list(pid) if s["strategy"] == "elad"}
    assert len(rows) == 30 and all(r["uncertainty"] == by_pair[r["round"], r["example_id"]] for r in rows)
    one = queue(store, pid, QueueFilter(round=1, statuses=()))
    assert {r["round"] for r in one} == {1} and len(one) == 10


def test_the_unlabeled_pool_and_its_exemplars_follow_new_examples(tmp_path):
    store, pid, data = scored_project(tmp_path)
    ctx = RoundContext(store, pid)
    exemplars = ctx.exemplar_ids()
    assert len(exemplars) == 3
    labelled = store.selections.labelled_ids(pid)
    assert ctx.unlabeled_pool() == [e.id for e in data if e.id not in labelled | exemplars]
    more = generate(40, 6, prefix="r")
    store.examples.add(pid, more, "more")
    ctx = RoundContext(store, pid)
    assert len(ctx.unlabeled_pool()) == len(data) + len(more) - len(labelled) - len(ctx.exemplar_ids())
    assert store.examples.ids(pid, "pool") == [e.id for e in data + more]


def test_first_error_positions_are_counted_in_sql(tmp_path):
    store, pid, _ = scored_project(tmp_path)
    rows = first_error_positions(store, pid)
    assert sum(r["revisions"] for r in rows) == 3 * (10 - 4)  # first_error None on every third revision
    assert {r["position"] for r in rows} == {"after the last step"}  # no verdicts stored: past the student's steps


def test_the_app_benchmark_runs_at_toy_scale(tmp_path):
    out = subprocess.run([sys.executable, "-m", "benchmarks.app", "--examples", "400", "--revisions", "40",
                          "--repeats", "1"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("| ")]
    assert [ln.split(" | ")[0][2:] for ln in lines[1:]] == ["projects", "rounds", "review", "metrics", "export",
                                                           "accounts", "approve (one decision)"]
    assert "revisions 40" in out.stdout and "examples 400" in out.stdout
