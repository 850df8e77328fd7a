"""Learning-efficiency benchmark (a benchmark, not a test): does explanation-guided selection pay on the
embedded task? Every strategy x annotation x seed runs through the engine's own round loop (RoundRunner,
auto-approve, oracle teacher), with equal per-round budgets and the same number of rounds.

Run: `python -m benchmarks.efficiency [--quick] [--jobs 2] [--out benchmarks/results/efficiency] [--from-csv FILE]`.
Writes efficiency.csv (one row per strategy, annotation, seed and round), efficiency.png (accuracy against
cumulative teacher completion tokens, mean and spread over seeds) and efficiency.md (the summary table). On a real
dataset (benchmarks/bench_data.py's flags) with some of the runs, resumable over several sittings:
`python -m benchmarks.efficiency --data ../shared/datasets/svamp/SVAMP.json --preset svamp --student
student:smollm2-135m --teacher reference --pool 512 --test 300 --rounds 2 --warmup 32 --budget 32 --seeds 0,1,2
--runs elad:revision,random:revision,random:full --out benchmarks/results/efficiency-svamp --resume`.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.bench_data import BenchData, add_arguments, from_args
from elad_engine.metrics import mean_band

STRATEGIES = ["elad", "elad-intra", "elad-inter", "answer-entropy", "perplexity", "random"]
ANNOTATIONS = ["revision", "full"]


@dataclass(frozen=True)
class Grid:
    """Fixed before the grid runs and the same for every strategy: no per-strategy tuning."""

    pool: int
    test: int
    rounds: int
    warmup: int
    budget: int
    seeds: tuple[int, ...]
    runs: tuple[tuple[str, str], ...] = tuple((s, a) for s in STRATEGIES for a in ANNOTATIONS)  # strategy, annotation

    def __post_init__(self):
        for s, a in self.runs:
            if s not in STRATEGIES or a not in ANNOTATIONS:
                raise SystemExit(f"run {s}:{a}: strategies are {', '.join(STRATEGIES)}; annotations "
                                 f"{', '.join(ANNOTATIONS)}")
        if ("random", "full") not in self.runs:
            raise SystemExit("the grid needs random:full, the target every run is measured against")


# Sized from one measured run each (2 cores, 2026-11-26): at pool 96 / test 128, elad+revision took 49 s and
# random+full 16 s; scaled to pool 160 / test 200 that is about 13 minutes a seed, about 40 for the grid.
# The grid the README reports was run with test=200 and 3 seeds (FULL_2026_11). The next run uses 5 seeds and 1,000
# test questions, so that paired differences get intervals narrower than the effects asked about; it waits for an
# embedded task with more headroom (python -m benchmarks.headroom: +4.3 points at pool 160).
FULL_2026_11 = Grid(pool=160, test=200, rounds=3, warmup=8, budget=16, seeds=(0, 1, 2))
FULL = Grid(pool=160, test=1000, rounds=3, warmup=8, budget=16, seeds=(0, 1, 2, 3, 4))
QUICK = Grid(pool=24, test=24, rounds=1, warmup=4, budget=4, seeds=(0,))


def run_one(workspace: Path, grid: Grid, strategy: str, annotation: str, seed: int,
            data: BenchData | None = None) -> list[dict]:
    """One strategy, annotation and seed through the round loop; `data` is the embedded demo when None. The pool and
    test rows are drawn with seed 0 for every run, so the runs differ by their selection and training seed alone."""
    from elad_engine.method.accuracy import multi_step_accuracy
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store

    store = Store(workspace)
    name = f"{strategy}-{annotation}-s{seed}".replace("_", "-")
    data = replace(data or BenchData(pool=grid.pool, test=grid.test), pool=grid.pool, test=grid.test)
    pid = data.create(store, name, **{
        "selection.strategy": strategy, "teacher.annotation": annotation, "rounds.seed": seed,
        "rounds.rounds": grid.rounds, "rounds.warmup": grid.warmup, "selection.round_budget": grid.budget})
    outcome = RoundRunner(store, pid).run()
    if outcome.stop_reason != "completed":
        raise RuntimeError(f"{name}: stopped early: {outcome.stop_reason}: {outcome.message}")
    return [{"strategy": strategy, "annotation": annotation, "seed": seed, "round": m["round"],
             "accuracy": m["accuracy"], "multi_step": multi_step_accuracy(m["by_difficulty"]),
             "prompt_tokens": m["prompt_tokens"], "completion_tokens": m["completion_tokens"],
             "correct": " ".join(m.get("correct") or [])}
            for m in store.metrics.list(pid) if m["accuracy"] is not None]


def tokens_to_reach(rows: list[dict], target: float) -> float | None:
    """Cumulative completion tokens at which the seed-mean accuracy curve first reaches `target`, linearly
    interpolated between rounds (None if it never does)."""
    rounds = sorted({r["round"] for r in rows})
    xs = [statistics.mean(r["completion_tokens"] for r in rows if r["round"] == k) for k in rounds]
    ys = [statistics.mean(r["accuracy"] for r in rows if r["round"] == k) for k in rounds]
    for i, (x, y) in enumerate(zip(xs, ys)):
        if y >= target - 1e-12:
            if i == 0:
                return x
            return xs[i - 1] + (x - xs[i - 1]) * (target - ys[i - 1]) / (y - ys[i - 1])
    return None


def paired_bootstrap(a: dict[int, set[str]], b: dict[int, set[str]], n_test: int, draws: int = 2000,
                     seed: int = 0) -> tuple[float, float, float]:
    """Accuracy of runs `a` minus runs `b` (seed -> test ids answered right; the same test split), with its 95%
    interval from a paired bootstrap that resamples seeds and test questions together."""
    seeds = sorted(set(a) & set(b))
    ids = sorted(set().union(*a.values(), *b.values()))
    ids += [f"(wrong in every run {i})" for i in range(n_test - len(ids))]  # they count, as zeros
    diff = {s: [(q in a[s]) - (q in b[s]) for q in ids] for s in seeds}
    point = statistics.mean(statistics.mean(diff[s]) for s in seeds)
    rng, n = random.Random(seed), len(ids)
    stats = []
    for _ in range(draws):
        picked = [rng.choice(seeds) for _ in seeds]
        qs = [rng.randrange(n) for _ in range(n)]
        stats.append(sum(sum(diff[s][q] for q in qs) for s in picked) / (n * len(picked)))
    stats.sort()
    return point, stats[int(0.025 * draws)], stats[int(0.975 * draws) - 1]


def seed_mean_tokens(rows: list[dict]) -> list[float]:
    """Cumulative completion tokens of the seed-mean curve, round by round."""
    return [statistics.mean(r["completion_tokens"] for r in rows if r["round"] == k)
            for k in sorted({r["round"] for r in rows})]


def curve_area(rows: list[dict], lo: float, hi: float) -> float | None:
    """The mean height of the seed-mean accuracy curve between `lo` and `hi` completion tokens (linear between
    rounds): the area under accuracy-versus-tokens, per token."""
    rounds = sorted({r["round"] for r in rows})
    xs = [statistics.mean(r["completion_tokens"] for r in rows if r["round"] == k) for k in rounds]
    ys = [statistics.mean(r["accuracy"] for r in rows if r["round"] == k) for k in rounds]
    if hi <= lo or xs[0] > lo or xs[-1] < hi:
        return None
    grid = [lo + (hi - lo) * i / 200 for i in range(201)]

    def at(x: float) -> float:
        for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
            if x0 <= x <= x1:
                return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        return ys[-1]
    return statistics.mean(at(x) for x in grid)


def final_by_seed(rows: list[dict], strategy: str, annotation: str, last: int) -> dict[int, dict]:
    return {r["seed"]: r for r in rows if r["strategy"] == strategy and r["annotation"] == annotation
            and r["round"] == last}


def paired_vs_random(rows: list[dict], strategy: str, annotation: str, last: int, grid: Grid) -> str:
    """Final accuracy minus random's (same annotation), paired by seed and test question, with its bootstrap CI."""
    if strategy == "random":
        return "-"
    runs = [final_by_seed(rows, x, annotation, last) for x in (strategy, "random")]
    if not runs[1]:
        return f"(no random:{annotation} run)"
    if not all(r.get("correct") for run in runs for r in run.values()):
        return "(no per-question results)"
    a, b = ({k: set(r["correct"].split()) for k, r in run.items()} for run in runs)
    point, low, high = paired_bootstrap(a, b, grid.test)
    return f"{100 * point:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] points"


def mean_std(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.3f}"


def summarise(rows: list[dict], grid: Grid) -> str:
    """The table, then the two questions of the issue answered from it (paired by seed)."""
    last = grid.rounds
    target = statistics.mean(r["accuracy"] for r in final_by_seed(rows, "random", "full", last).values())
    lines = [f"Target: the final accuracy of random + full, {target:.3f} (mean of {len(grid.seeds)} seed(s)).", "",
             "| strategy | annotation | final accuracy, mean [95% CI over seeds] | minus random, paired [95% CI] | "
             "area under accuracy vs tokens | completion tokens at the end | tokens to reach the target |",
             "|---|---|---|---|---|---|---|"]
    series = {(s, a): [r for r in rows if r["strategy"] == s and r["annotation"] == a]
              for s in STRATEGIES for a in ANNOTATIONS}
    series = {k: v for k, v in series.items() if v}
    ends = [seed_mean_tokens(v) for v in series.values()]  # the area is taken on the seed-mean curves
    lo, hi = max(xs[0] for xs in ends), min(xs[-1] for xs in ends)
    for s, a in series:
        final = final_by_seed(rows, s, a, last)
        end_tokens = statistics.mean(r["completion_tokens"] for r in final.values())
        need = tokens_to_reach(series[(s, a)], target)
        mean, low, high = mean_band([r["accuracy"] for r in final.values()])
        area = curve_area(series[(s, a)], lo, hi)
        paired = paired_vs_random(rows, s, a, last, grid)
        lines.append(f"| {s} | {a} | {mean:.3f} [{low:.3f}, {high:.3f}] | {paired} "
                     f"| {'-' if area is None else f'{area:.3f}'} | {end_tokens:,.0f} | "
                     f"{'not reached' if need is None else f'{need:,.0f}'} |")
    lines += ["", f"Area: the mean accuracy of the seed-mean curve between {lo:,.0f} and {hi:,.0f} completion tokens "
              "(the range every series covers)."]
    ref = statistics.mean(r["completion_tokens"] for r in final_by_seed(rows, "random", "full", last).values())
    need = tokens_to_reach(series.get(("elad", "revision"), []), target) if ("elad", "revision") in series else None
    lines += ["", f"Q1. Does elad + revision reach the final accuracy of random + full ({target:.3f}) with at most "
              f"half of its completion tokens ({ref / 2:,.0f} of {ref:,.0f})? "
              + ("No: its seed-mean accuracy never reaches it." if need is None else
                 f"{'Yes' if need <= ref / 2 else 'No'}: it needs {need:,.0f} ({need / ref:.0%} of random + full's)."),
              "", "Q2. Does elad selection beat random selection by at least 5 points at equal budget (the same "
              "samples per round and rounds)? Final accuracy, elad minus random, paired by seed:"]
    for a in ANNOTATIONS:
        e, r = final_by_seed(rows, "elad", a, last), final_by_seed(rows, "random", a, last)
        if not e or not r:
            lines.append(f"- {a}: not run (the grid lacks elad:{a} or random:{a}).")
            continue
        diffs = [e[k]["accuracy"] - r[k]["accuracy"] for k in sorted(e) if k in r]
        verdict = "Yes" if statistics.mean(diffs) >= 0.05 else "No"
        lines.append(f"- {a}: {verdict}: {100 * statistics.mean(diffs):+.1f} points on average; per seed "
                     + ", ".join(f"{100 * d:+.1f}" for d in diffs) + ".")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, annotation in zip(axes, ANNOTATIONS):
        for s in STRATEGIES:
            sel = [r for r in rows if r["strategy"] == s and r["annotation"] == annotation]
            if not sel:
                continue
            rounds = sorted({r["round"] for r in sel})
            x = [statistics.mean(r["completion_tokens"] for r in sel if r["round"] == k) for k in rounds]
            ys = [[r["accuracy"] for r in sel if r["round"] == k] for k in rounds]
            mean = [statistics.mean(y) for y in ys]
            lo, hi = [min(y) for y in ys], [max(y) for y in ys]
            ax.plot(x, mean, marker="o", label=s)
            ax.fill_between(x, lo, hi, alpha=0.15)
        ax.set_title(f"annotation: {annotation}")
        ax.set_xlabel("cumulative teacher completion tokens")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (mean; band: min-max over seeds)")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def read_csv(path: Path) -> list[dict]:
    ints = ("seed", "round", "prompt_tokens", "completion_tokens")
    with open(path, newline="") as f:
        return [{k: int(v) if k in ints else float(v) if k in ("accuracy", "multi_step") and v != "" else v
                 for k, v in r.items()} for r in csv.DictReader(f)]


def write_csv(rows: list[dict], path: Path) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def _run_in_worker(workspace: str, grid: Grid, strategy: str, annotation: str, seed: int,
                   data: BenchData | None) -> list[dict]:
    """One run in a worker process, on one CPU thread (the runs share the machine's cores between them)."""
    import torch

    torch.set_num_threads(1)
    return run_one(Path(workspace), grid, strategy, annotation, seed, data)


def finished_runs(rows: list[dict], grid: Grid) -> dict[tuple, list[dict]]:
    """The rows of an earlier CSV grouped by (strategy, annotation, seed), for the runs that reached every round."""
    runs: dict[tuple, list[dict]] = {}
    for r in rows:
        runs.setdefault((r["strategy"], r["annotation"], r["seed"]), []).append(r)
    return {k: v for k, v in runs.items() if {r["round"] for r in v} == set(range(grid.rounds + 1))}


def run_grid(grid: Grid, out: Path, jobs: int = 1, resume: bool = False, data: BenchData | None = None) -> list[dict]:
    """Every strategy x annotation x seed; with jobs > 1, that many runs at once in worker processes, each in its own
    workspace (cached replies are counted as cost either way). The CSV is rewritten after every finished run; with
    `resume`, the runs it already holds in full are kept and not run again."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    runs = [(s, a, seed) for seed in grid.seeds for s, a in grid.runs]
    done: dict[tuple, list[dict]] = {}
    if resume and (out / "efficiency.csv").exists():
        done = {k: v for k, v in finished_runs(read_csv(out / "efficiency.csv"), grid).items() if k in runs}
        print(f"resuming: {len(done)} of {len(runs)} runs already in {out / 'efficiency.csv'}", flush=True)
    todo = [run for run in runs if run not in done]

    def finished(run: tuple, result: list[dict], seconds: float) -> None:
        done[run] = result
        write_csv([r for key in runs if key in done for r in done[key]], out / "efficiency.csv")
        s, a, seed = run
        print(f"{s:>15} {a:>8} seed {seed}: final accuracy {result[-1]['accuracy']:.3f}, "
              f"{result[-1]['completion_tokens']:,} completion tokens ({seconds:.0f} s; {len(done)}/{len(runs)})",
              flush=True)

    with tempfile.TemporaryDirectory() as ws:
        if jobs <= 1:
            for run in todo:
                started = time.time()
                finished(run, run_one(Path(ws), grid, *run, data), time.time() - started)
        else:
            with ProcessPoolExecutor(jobs) as pool:
                started = time.time()
                futures = {pool.submit(_run_in_worker, str(Path(ws) / f"w{i}"), grid, *run, data): run
                           for i, run in enumerate(todo)}
                for future in as_completed(futures):
                    finished(futures[future], future.result(), time.time() - started)
    return [r for key in runs for r in done[key]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a tiny grid (1 seed, 1 round) that checks the outputs")
    ap.add_argument("--out", default="benchmarks/results/efficiency")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own process on one CPU thread")
    ap.add_argument("--resume", action="store_true", help="keep the finished runs of the CSV in --out, run the rest")
    ap.add_argument("--from-csv", help="rebuild the plot and table from this CSV of an earlier run (runs nothing)")
    add_arguments(ap, pool=None, test=None)
    ap.add_argument("--rounds", type=int, help="rounds after the warm-up (default: the grid's)")
    ap.add_argument("--warmup", type=int, help="warm-up samples (default: the grid's)")
    ap.add_argument("--budget", type=int, help="teacher samples per round (default: the grid's)")
    ap.add_argument("--seeds", help="comma-separated seeds (default: the grid's)")
    ap.add_argument("--runs", help="strategy:annotation pairs, comma-separated (default: every strategy with both "
                    "annotations); random:full is needed")
    args = ap.parse_args(argv)
    grid = QUICK if args.quick else FULL
    grid = replace(grid, **{k: v for k, v in (("pool", args.pool), ("test", args.test), ("rounds", args.rounds),
                                               ("warmup", args.warmup), ("budget", args.budget)) if v is not None},
                   **({"seeds": tuple(int(x) for x in args.seeds.split(","))} if args.seeds else {}),
                   **({"runs": tuple(tuple(r.split(":", 1)) for r in args.runs.split(","))} if args.runs else {}))
    args.pool, args.test = grid.pool, grid.test
    data = from_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_csv:
        rows = read_csv(Path(args.from_csv))
        plot(rows, out / "efficiency.png")
        table = summarise(rows, grid)
        old = (out / "efficiency.md").read_text().split("\n", 1)[0] if (out / "efficiency.md").exists() else ""
        head = old if old.startswith("Grid:") else f"Grid: {grid}."
        (out / "efficiency.md").write_text(f"{head}\n\n{table}\n")
        print(table)
        return 0
    t0 = time.time()
    rows = run_grid(grid, out, args.jobs, args.resume, data)
    plot(rows, out / "efficiency.png")
    table = summarise(rows, grid)
    (out / "efficiency.md").write_text(f"Grid: {grid}; data: {data.describe()}; {time.time() - t0:.0f} s in all.\n\n"
                                       f"{table}\n")
    print(table)
    print(f"wrote {out}/efficiency.csv, efficiency.png, efficiency.md in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
