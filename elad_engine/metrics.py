"""Tables behind the Metrics page (plain lists of dicts, ready for pandas): accuracy against teacher cost per
round and project, the starting students, training runs and their loss curves, selection scores, reviewer
statistics, and where the teacher's first error falls."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from .errors import StoreError
from .method.accuracy import multi_step_accuracy
from .review.decisions import POLICY_PREFIX
from .states import RevisionStatus
from .store import Store


def metrics_frame(store: Store, project_ids: list[int]) -> list[dict]:
    rows = []
    for project_id in project_ids:
        cfg = store.projects.config(project_id)
        for m in store.metrics.list(project_id):
            if m["accuracy"] is None:
                continue
            rows.append({"project": store.projects.name_of(project_id), "strategy": cfg.selection.strategy,
                         "annotation": cfg.teacher.annotation, "round": m["round"], "accuracy": m["accuracy"],
                         "multi_step": multi_step_accuracy(m["by_difficulty"]), "prompt_tokens": m["prompt_tokens"],
                         "completion_tokens": m["completion_tokens"],
                         "total_tokens": (m["prompt_tokens"] or 0) + (m["completion_tokens"] or 0),
                         "cost_usd": m["cost_usd"], "approved": m["approved"], "edited": m["edited"],
                         "rejected": m["rejected"], "teacher_failed": m["teacher_failed"],
                         "format_ok": m.get("format_ok"), "pool_format_ok": m.get("pool_format_ok")})
    return rows


def baselines(store: Store, project_ids: list[int]) -> list[dict]:
    """{project, base_accuracy}: each project's starting student on the test split, before the warm-up trained it."""
    out = []
    for project_id in project_ids:
        first = next((m for m in store.metrics.list(project_id) if m["round"] == 0), None)
        if first is not None and first["base_accuracy"] is not None:
            out.append({"project": store.projects.name_of(project_id), "base_accuracy": first["base_accuracy"]})
    return out


def training_table(store: Store, project_id: int) -> list[dict]:
    """One row per trained round: method, samples, optimiser steps, tokens, seconds, the final loss."""
    return [{"round": r["round"], "method": r["method"], "samples": r["samples"], "steps": r["steps"],
             "tokens": r["tokens"], "seconds": None if r["seconds"] is None else round(r["seconds"], 1),
             "final loss": None if r["final_loss"] is None else round(r["final_loss"], 4)}
            for r in store.training_runs.list(project_id)]


def loss_curves(store: Store, project_id: int, rnd: int | None = None) -> list[dict]:
    """{round, step, loss}: the live log written while training ran, else the losses its finished run kept."""
    live = store.training_runs.live_losses(project_id, rnd)
    have = {r["round"] for r in live}
    for run in store.training_runs.list(project_id):
        if run["round"] not in have and (rnd is None or run["round"] == rnd):
            live += [{"round": run["round"], "step": i + 1, "loss": loss} for i, loss in enumerate(run["losses"] or [])]
    return sorted(live, key=lambda r: (r["round"], r["step"]))


def metrics_text(store: Store, project_id: int) -> str:
    """The per-round table as fixed-width text (the CLI's `round` and `status` print it)."""
    head = (f"{'round':>5} {'accuracy':>8} {'multi-step':>10} {'1-step':>6} {'format':>6} {'prompt tok':>10} "
            f"{'compl. tok':>10} {'USD':>8} {'approved':>8} {'edited':>6} {'rejected':>8} {'seconds':>7}")
    lines = [head]
    rows = store.metrics.list(project_id)
    for m in rows:
        if m["accuracy"] is None:
            continue
        by = m["by_difficulty"] or {}
        one = by.get("1", {}).get("accuracy")
        ms = multi_step_accuracy(by)
        secs = sum((m["phase_seconds"] or {}).values())
        fmt = "-" if m.get("format_ok") is None else f"{m['format_ok']:.0%}"
        lines.append(f"{m['round']:>5} {_f3(m['accuracy']):>8} {_f3(ms):>10} {_f3(one):>6} {fmt:>6} "
                     f"{m['prompt_tokens'] or 0:>10,} {m['completion_tokens'] or 0:>10,} {m['cost_usd'] or 0:>8.4f} "
                     f"{m['approved'] or 0:>8} {m['edited'] or 0:>6} {m['rejected'] or 0:>8} {secs:>7.1f}")
    first = next((m for m in rows if m["round"] == 0), None)
    if first is not None and first["base_accuracy"] is not None:
        fmt = "" if first.get("base_format_ok") is None else f", format followed {first['base_format_ok']:.0%}"
        lines.append(f"(round 0 starting student, before warm-up training: accuracy {first['base_accuracy']:.3f}"
                     f"{fmt})")
    return "\n".join(lines)


def _f3(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def score_histogram(store: Store, project_id: int, bins: int = 30) -> list[dict]:
    """Selection scores of every round after the warm-up as histogram bars, counted in SQL (a 50,000-question pool
    is 30 bars a round, not 50,000 points sent to the browser): {round, selected, start, end, samples}, the bins
    equal-width over the project's score range."""
    strategy = store.projects.config(project_id).selection.strategy
    # Counting 200,000 scores takes a few hundred ms, and they change only when a phase ends: the bars are kept per
    # project and phase/selection version, so a page that redraws every second counts them once per change.
    key = (str(store.workspace), project_id, strategy, bins, store.phases.version(project_id),
           store.selections.total(project_id))
    if key not in _HISTOGRAMS:
        if len(_HISTOGRAMS) > 64:
            _HISTOGRAMS.clear()
        _HISTOGRAMS[key] = store.scores.histogram(project_id, strategy, bins)
    return [dict(bar) for bar in _HISTOGRAMS[key]]


_HISTOGRAMS: dict[tuple, list[dict]] = {}


def reviewer_stats(store: Store, project_id: int) -> list[dict]:
    by: dict[str, Counter] = {}
    for r in store.reviews.of_project(project_id):
        by.setdefault(r["reviewer"], Counter())[r["action"]] += 1
    out = []
    for who, c in sorted(by.items()):
        n = sum(c.values())
        out.append({"reviewer": who, "decisions": n, "approve %": round(100 * c["approve"] / n, 1),
                    "edit %": round(100 * c["edit"] / n, 1), "reject %": round(100 * c["reject"] / n, 1)})
    return out


def agreement(store: Store, project_id: int) -> dict:
    """Among samples decided by two or more human reviewers: how often they all agreed (same action and
    same edited text), and how many conflicts are open or were settled by an admin."""
    by: dict[int, list] = {}
    for r in store.reviews.of_project(project_id):
        if not r["reviewer"].startswith(POLICY_PREFIX):
            by.setdefault(r["revision_id"], []).append((r["action"], r["edited_text"]))
    overlap = max(1, store.projects.config(project_id).review.overlap)
    multi = {rid: votes[:overlap] for rid, votes in by.items() if len(votes) >= 2 and overlap >= 2}
    agreed = sum(len(set(v)) == 1 for v in multi.values())
    return {"overlap": overlap, "samples with several reviews": len(multi),
            "agreement %": round(100 * agreed / len(multi), 1) if multi else None,
            "open conflicts": store.revisions.count(project_id, status=RevisionStatus.CONFLICT)}


def first_error_positions(store: Store, project_id: int) -> list[dict]:
    """Where the revisions that found an error place it, as "step k of n" of the student's chain: {round, position,
    revisions} (counted in SQL)."""
    return [{"round": rnd, "position": "after the last step" if k > n else f"step {k} of {n}", "revisions": count}
            for rnd, k, n, count in store.revisions.first_errors(project_id)]


BENCHMARK_COLUMNS = ("strategy", "annotation", "seed", "round", "accuracy", "prompt_tokens", "completion_tokens")


# Two-sided 95% Student t quantiles by degrees of freedom (seeds - 1): a band over 3-5 seeds needs them.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_band(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% confidence interval of the mean over seeds (t; equal to the mean for one)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, mean, mean
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    half = T95.get(n - 1, 1.96) * sd / n ** 0.5
    return mean, mean - half, mean + half


def benchmark_curves(path) -> list[dict]:
    """The efficiency benchmark's CSV (benchmarks/efficiency.py) as mean accuracy per strategy, annotation and
    round over seeds with its 95% confidence band (low, high), against mean cumulative completion tokens;
    StoreError names a malformed file."""
    try:
        rows = list(csv.DictReader(Path(path).read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"cannot read the benchmark file {path}: {e}") from None
    missing = [c for c in BENCHMARK_COLUMNS if not rows or c not in rows[0]]
    if missing:
        raise StoreError(f"{path} is not an efficiency benchmark CSV: it lacks the column(s) {', '.join(missing)}")
    groups: dict[tuple, list[dict]] = {}
    for n, r in enumerate(rows, 2):
        try:
            key = (r["strategy"], r["annotation"], int(r["round"]))
            groups.setdefault(key, []).append({"accuracy": float(r["accuracy"]),
                                               "completion_tokens": float(r["completion_tokens"])})
        except ValueError as e:
            raise StoreError(f"{path}, row {n}: {e}") from None
    out = []
    for (s, a, k), v in sorted(groups.items()):
        mean, low, high = mean_band([x["accuracy"] for x in v])
        out.append({"series": f"{s} + {a}", "round": k, "seeds": len(v), "accuracy": mean, "low": low,
                    "high": high, "completion_tokens": sum(x["completion_tokens"] for x in v) / len(v)})
    return out
