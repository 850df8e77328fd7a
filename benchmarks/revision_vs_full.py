"""Why revision and full annotation end at the same accuracy in the efficiency benchmark: on the embedded task the
oracle's revision (the student's correct steps, then the oracle's from the first wrong one) is the very text its
full annotation writes. Run: `python -m benchmarks.revision_vs_full` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.efficiency import FULL


def main() -> None:
    from elad_engine.projects import create_demo_project
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store

    store = Store(Path(tempfile.mkdtemp()))
    texts, revisions = {}, {}
    for mode in ("revision", "full"):  # the efficiency grid's settings, one round, seed 0
        pid = create_demo_project(store, name=f"p-{mode}", pool=FULL.pool, test=16, **{
            "teacher.annotation": mode, "rounds.rounds": 1, "rounds.warmup": FULL.warmup,
            "selection.round_budget": FULL.budget, "selection.strategy": "elad"})
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
    for mode in ("revision", "full"):
        rows = revisions[mode]
        print(f"{mode:>8}: {sum(r['completion_tokens'] for r in rows):,} completion tokens for {len(rows)} round-1 "
              f"calls ({statistics.mean(r['completion_tokens'] for r in rows):.0f} per call)")


if __name__ == "__main__":
    main()
