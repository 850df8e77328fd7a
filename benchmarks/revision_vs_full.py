"""Why revision and full annotation end at the same accuracy in the efficiency benchmark: on the embedded task the
oracle's revision (the student's correct steps, then the oracle's from the first wrong one) is the very text its
full annotation writes. Run: `python -m benchmarks.revision_vs_full [--pool 160]` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.efficiency import FULL


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", type=int, default=FULL.pool, help="pool size (default: the efficiency grid's)")
    ap.add_argument("--epochs", type=int, help="training epochs (default: the demo's)")
    args = ap.parse_args(argv)
    from elad_engine.projects import create_demo_project
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store
    from elad_engine.teachers.prompts import PROMPT_VERSION

    store = Store(Path(tempfile.mkdtemp()))
    texts, revisions = {}, {}
    for mode in ("revision", "full"):  # the efficiency grid's settings, one round, seed 0
        pid = create_demo_project(store, name=f"p-{mode}", pool=args.pool, test=16, **{
            "teacher.annotation": mode, "rounds.rounds": 1, "rounds.warmup": FULL.warmup,
            "selection.round_budget": FULL.budget, "selection.strategy": "elad",
            **({"training.epochs": args.epochs} if args.epochs else {})})
        RoundRunner(store, pid).run()
        texts[mode] = {e.id: t for e, t in store.revisions.training_samples(pid, 1)}
        revisions[mode] = store.revisions.list(pid, 1)
    same = sum(texts["revision"][k] == texts["full"].get(k) for k in texts["revision"])
    print(f"round 1 training samples: {len(texts['revision'])} (revision) and {len(texts['full'])} (full); "
          f"identical texts: {same} of {len(texts['revision'])}")
    revs = revisions["revision"]
    kept = [r["first_error"] - 1 if r["first_error"] else len(r["verdicts"] or []) for r in revs]
    print(f"revisions keeping some of the student's steps: {sum(k > 0 for k in kept)} of {len(revs)} "
          f"(mean {statistics.mean(kept):.2f} steps kept)")
    same_picks = {r["example_id"] for r in revisions["revision"]} == {r["example_id"] for r in revisions["full"]}
    print(f"the same samples selected in both: {same_picks}; prompts {PROMPT_VERSION}")
    print()
    print("| annotation | calls | completion tokens | mean per call | median per call |")
    print("|---|---|---|---|---|")
    for mode in ("revision", "full"):
        rows = revisions[mode]
        tokens = [r["completion_tokens"] for r in rows]
        print(f"| {mode} | {len(rows)} | {sum(tokens):,} | {statistics.mean(tokens):.0f} | "
              f"{statistics.median(tokens):.0f} |")
    confirmed = [r["completion_tokens"] for r in revisions["revision"] if r["first_error"] is None]
    if confirmed:
        print(f"| revision, student confirmed (first_error null) | {len(confirmed)} | {sum(confirmed):,} | "
              f"{statistics.mean(confirmed):.0f} | {statistics.median(confirmed):.0f} |")
    ratio = statistics.median(r["completion_tokens"] for r in revisions["revision"]) / statistics.median(
        r["completion_tokens"] for r in revisions["full"])
    print(f"\nmedian completion tokens, revision / full: {ratio:.2f}")


if __name__ == "__main__":
    main()
