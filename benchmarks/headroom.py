"""How much could selection matter? The headroom: the warm-up student's accuracy against the same student trained,
with the same epochs, on the teacher's explanations of more of the pool, up to all of it (a benchmark, not a test).

Run: `python -m benchmarks.headroom [--pool 160] [--test 1000] [--sizes 8,16,40,80] [--seeds 0,1] [--epochs 4]` on
the embedded task; on a real dataset with a pretrained student and the reference teacher (no paid calls):
`python -m benchmarks.headroom --data ../shared/datasets/svamp/SVAMP.json --preset svamp --student
student:smollm2-135m --teacher reference --pool 512 --test 300 --sizes 8,32,128 --out benchmarks/results/headroom-svamp
--resume`. Every point runs through the engine's own round 0 (full annotations, LoRA, evaluation) and is written to
headroom.csv in --out as it finishes; --resume keeps the finished points.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_data import BenchData, add_arguments, from_args

FIELDS = ["trained_on", "seed", "base", "accuracy", "seconds"]


def round0_accuracy(workspace: Path, data: BenchData, train_on: int, seed: int, epochs: int | None = None) -> dict:
    """Accuracy after round 0 when the warm-up is `train_on` pool samples with the teacher's full annotations."""
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store

    store = Store(workspace)
    name = f"h-{train_on}-s{seed}"
    pid = data.create(store, name, **{"rounds.warmup": train_on, "rounds.seed": seed, "rounds.rounds": 0,
                                      **({"training.epochs": epochs} if epochs else {})})
    t0 = time.perf_counter()
    outcome = RoundRunner(store, pid, log=lambda line: print(f"  {line}", flush=True)).run(max_rounds=1)
    if outcome.rounds_done != 1:
        raise SystemExit(f"{name}: {outcome.stop_reason}: {outcome.message}")
    m = store.metrics.of_round(pid, 0)
    return {"trained_on": train_on, "seed": seed, "base": m["base_accuracy"], "accuracy": m["accuracy"],
            "seconds": round(time.perf_counter() - t0, 1)}


def read_points(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{"trained_on": int(r["trained_on"]), "seed": int(r["seed"]), "base": float(r["base"]),
                 "accuracy": float(r["accuracy"]), "seconds": float(r["seconds"])} for r in csv.DictReader(f)]


def write_points(points: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(points)
    tmp.replace(path)  # a killed run leaves the last whole CSV


def table(points: list[dict], sizes: list[int]) -> str:
    """The headroom table in markdown: mean accuracy by training size, its gain over the smallest size."""
    mean = {n: statistics.mean(p["accuracy"] for p in points if p["trained_on"] == n) for n in sizes
            if any(p["trained_on"] == n for p in points)}
    if not mean:
        return "(no finished points)"
    low, high = min(mean), max(mean)
    base = statistics.mean(p["base"] for p in points)
    lines = [f"untrained student: {base:.3f}", "",
             "| trained on (pool samples) | accuracy (mean over seeds) | per seed | gain over the smallest |",
             "|---|---|---|---|"]
    for n in sorted(mean):
        per = ", ".join(f"{p['accuracy']:.3f}" for p in sorted(points, key=lambda p: p["seed"]) if p["trained_on"] == n)
        lines.append(f"| {n} | {mean[n]:.3f} | {per} | {100 * (mean[n] - mean[low]):+.1f} points |")
    head = 100 * (mean[high] - mean[low])
    lines.append(f"\nheadroom from {low} to {high} samples: {head:+.1f} accuracy points"
                 + (" (under 8 points: a selection strategy cannot show much here)" if head < 8 else ""))
    reach = next((n for n in sorted(mean) if mean[n] - mean[low] >= (mean[high] - mean[low]) / 2), None)
    if head > 0 and reach is not None:
        lines.append(f"half of it reached at {reach} of {high} pool samples ({reach / high:.0%})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap, pool=160, test=1000)
    ap.add_argument("--sizes", default="8,16,40,80", help="warm-up sizes below the whole pool (the pool is added)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, help="training epochs (default: the project's)")
    ap.add_argument("--out", type=Path, help="folder for headroom.csv and headroom.md (default: a temporary one)")
    ap.add_argument("--resume", action="store_true", help="keep the finished points of headroom.csv in --out")
    args = ap.parse_args(argv)
    data = from_args(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = sorted({*(int(n) for n in args.sizes.split(",") if int(n) < args.pool), args.pool})
    if args.resume and not args.out:
        raise SystemExit("--resume continues the CSV in --out: give --out")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        points = [p for p in read_points(out / "headroom.csv") if p["trained_on"] in sizes and p["seed"] in seeds] \
            if args.resume else []
        if points:
            print(f"resuming: {len(points)} of {len(sizes) * len(seeds)} points already in {out / 'headroom.csv'}")
        done = {(p["trained_on"], p["seed"]) for p in points}
        for seed in seeds:
            for n in sizes:
                if (n, seed) in done:
                    continue
                p = round0_accuracy(Path(tmp) / "ws", data, n, seed, args.epochs)
                points.append(p)
                write_points(points, out / "headroom.csv")
                print(f"seed {seed}: trained on {n:>4} pool samples -> accuracy {p['accuracy']:.3f} "
                      f"(untrained {p['base']:.3f}); {p['seconds']:.0f} s", flush=True)
        text = (f"# Headroom: {data.describe()}, seeds {seeds}, {time.perf_counter() - t0:.0f} s this sitting\n\n"
                + table(points, sizes))
        (out / "headroom.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
