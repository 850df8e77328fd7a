"""How much could selection matter on the embedded task? The headroom: the warm-up student's accuracy against the
same student trained, with the same epochs, on the gold explanations of the whole pool (a benchmark, not a test).

Run: `python -m benchmarks.headroom [--pool 160] [--test 1000] [--warmup 8] [--seeds 0,1] [--epochs 4]`. Both arms
run through the engine's own round 0 (oracle full annotations, LoRA, evaluation); "pool reach" is the share of the
pool one must train on to gain half the headroom, from a few intermediate pool fractions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def round0_accuracy(workspace: Path, name: str, pool: int, test: int, train_on: int, seed: int,
                    epochs: int | None = None) -> dict:
    """Accuracy after round 0 when the warm-up is `train_on` pool samples (oracle full annotations)."""
    from elad_engine.method.accuracy import multi_step_accuracy
    from elad_engine.projects import create_demo_project
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store

    store = Store(workspace)
    pid = create_demo_project(store, name=name, pool=pool, test=test, **{
        "rounds.warmup": train_on, "rounds.seed": seed, "rounds.rounds": 0,
        **({"training.epochs": epochs} if epochs else {})})
    outcome = RoundRunner(store, pid).run(max_rounds=1)
    if outcome.rounds_done != 1:
        raise RuntimeError(f"{name}: {outcome.stop_reason}: {outcome.message}")
    m = store.metrics.of_round(pid, 0)
    return {"base": m["base_accuracy"], "accuracy": m["accuracy"],
            "multi_step": multi_step_accuracy(m["by_difficulty"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", type=int, default=160)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--fractions", default="0.1,0.25,0.5", help="pool shares between the warm-up and the whole pool")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, help="training epochs (default: the demo's)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [args.warmup, *(max(args.warmup + 1, round(args.pool * float(f))) for f in args.fractions.split(",")),
             args.pool]
    t0 = time.perf_counter()
    results: dict[int, list[float]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for n in sizes:
                r = round0_accuracy(Path(tmp) / "ws", f"h-{n}-s{seed}", args.pool, args.test, n, seed, args.epochs)
                results[n].append(r["accuracy"])
                print(f"seed {seed}: trained on {n:>4} pool samples -> accuracy {r['accuracy']:.3f} "
                      f"(untrained {r['base']:.3f}); {time.perf_counter() - t0:.0f} s", flush=True)
    mean = {n: statistics.mean(v) for n, v in results.items()}
    head = mean[args.pool] - mean[args.warmup]
    print(f"\n# Headroom of the embedded task: pool {args.pool}, test {args.test}, seeds {seeds}, "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| trained on (pool samples) | accuracy (mean over seeds) | gain over the warm-up |")
    print("|---|---|---|")
    for n in sizes:
        print(f"| {n} | {mean[n]:.3f} | {mean[n] - mean[args.warmup]:+.3f} |")
    reach = next((n for n in sizes if mean[n] - mean[args.warmup] >= head / 2), args.pool) if head > 0 else None
    print(f"\nheadroom: {100 * head:+.1f} accuracy points; half of it reached at "
          + (f"{reach} of {args.pool} pool samples ({reach / args.pool:.0%})" if reach else "no size (no headroom)"))


if __name__ == "__main__":
    main()
