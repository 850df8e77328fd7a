"""App-at-scale benchmark (a benchmark, not a test): the server time of each page's script run and of one approve,
on a workspace with 50,000 examples, 5 rounds and 5,000 revisions with their reviews, against an empty workspace
measured in the same run (medians of 5).

Run: `python -m benchmarks.app` (about 3 minutes to build the workspace); `--keep DIR` keeps it for a look in the
app (`ELAD_WORKSPACE=DIR make run`), `--reuse DIR` measures a kept one again without rebuilding.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from elad_engine.config import ProjectConfig
from elad_engine.method.reasoning import format_explanation, split_steps
from elad_engine.method.records import Example, Explanation, TeacherResult
from elad_engine.review import decisions
from elad_engine.service import Studio, User, open_workspace
from elad_engine.states import ExplanationKind, JobKind, JobStatus, Phase, PhaseStatus, ReviewAction
from elad_engine.store import Store
from elad_engine.student.prompt_style import PromptStyle
from elad_engine.tasks.synthetic import generate

REPO = Path(__file__).resolve().parent.parent
PAGES = ["projects", "rounds", "review", "metrics", "export", "accounts"]
REVIEWERS = ["ana", "ben", "chen", "dara"]
PAGE_LIMIT_S, APPROVE_LIMIT_S = 0.300, 0.050


def build(ws: Path, examples: int, rounds: int, revisions: int, samples: int, seed: int = 7) -> dict:
    """A workspace as rounds of the default method leave it: the pool explained every round (greedy + samples with
    probes), scored and selected, the selected samples revised and reviewed (the last round's review half done),
    metrics, training runs with their loss logs, the teacher ledger and the round jobs' logs. Built through the
    store's own writers (the data has the shapes the engine writes), without running a model."""
    rng = random.Random(seed)
    store = Store(ws)
    pid = store.projects.create("big", ProjectConfig())
    test_n = examples // 10
    data = generate(examples, seed, prefix="b")
    for i, e in enumerate(data):
        e.split = "test" if i < test_n else "pool"
    store.examples.add(pid, data, "benchmark")
    cfg = store.projects.config(pid)  # round 0 resolves the prompt style and keeps it, as here
    store.projects.set_prompt_style(pid, {"requested": {"prompt_style": cfg.student.prompt_style,
                                                        "few_shot": cfg.student.few_shot},
                                          "style": PromptStyle("completion").to_dict()})
    pool = [e for e in data if e.split == "pool"]
    by_id = {e.id: e for e in pool}
    per_round = revisions // rounds
    labelled: set[str] = set()
    for rnd in range(rounds):
        store.rounds.start(pid, rnd)
        unlabelled = [e for e in pool if e.id not in labelled]
        for start in range(0, len(unlabelled), 2000):  # the explain phase's chunks
            store.explanations.save(pid, rnd, [x for e in unlabelled[start:start + 2000]
                                               for x in _explanations(e, samples, rng)])
        scores = {e.id: (rng.random(), {"intra": rng.random(), "inter": rng.random()}) for e in unlabelled}
        store.scores.save(pid, rnd, "elad", scores)
        chosen = sorted(scores, key=lambda i: -scores[i][0])[:per_round]
        store.selections.save(pid, rnd, "elad", [(i, scores[i][0]) for i in chosen])
        labelled.update(chosen)
        last = rnd == rounds - 1
        _revise_and_review(store, pid, rnd, [by_id[i] for i in chosen], last, rng)
        if not last:
            store.metrics.save(pid, rnd, accuracy=0.6 + 0.05 * rnd, base_accuracy=0.6, test_size=test_n,
                               prompt_tokens=180 * per_round, completion_tokens=30 * per_round, cost_usd=0.1,
                               correct=[rng.random() < 0.6 for _ in range(test_n)], format_ok=0.97)
            losses = [(s, 2.0 / (1 + s / 50)) for s in range(600)]
            store.training_runs.start_losses(pid, rnd)
            store.training_runs.add_losses(pid, rnd, losses)
            store.training_runs.save(pid, rnd, method="lora", samples=len(labelled), steps=600, tokens=600 * 2048,
                                     seconds=95.0, final_loss=losses[-1][1], losses=[loss for _, loss in losses])
            store.rounds.finish(pid, rnd, "completed")
        job = store.jobs.enqueue(pid, JobKind.ROUNDS, {"max_rounds": 1})
        for line in range(300):
            store.jobs.log(job, f"round {rnd}: step {line} of the explain phase")
        store.jobs.update(job, status=JobStatus.DONE if not last else JobStatus.PAUSED, message="round done")
    return store.table_counts()


def _revise_and_review(store: Store, pid: int, rnd: int, chosen: list[Example], last: bool,
                       rng: random.Random) -> None:
    """The round's revisions (oracle-shaped, each with its ledger row) and their reviews: all decided, or half in
    the last round, whose review phase waits."""
    ids = []
    for e in chosen:
        steps = split_steps(e.rationale or "")[0] or ["no steps"]
        result = TeacherResult([], 1 if rng.random() < 0.5 else None, steps, e.answer, 180, 30,
                               raw='{"first_wrong": null}', replies=['{"first_wrong": null}'])
        text = format_explanation(steps, e.answer)
        ids.append(store.revisions.save(pid, rnd, e.id, "revision", "oracle", result, text, text, 0.0001, "revise-v4"))
        store.teacher_calls.record(pid, rnd, e.id, "revise", "oracle", 180, 30, 0.0001)
    store.phases.set(pid, rnd, Phase.REVIEW, PhaseStatus.WAITING if last else PhaseStatus.DONE)
    for n, rev_id in enumerate(ids[:len(ids) // 2] if last else ids):
        action = rng.choices([ReviewAction.APPROVE, ReviewAction.EDIT, ReviewAction.REJECT], [0.8, 0.12, 0.08])[0]
        decisions.decide(store, rev_id, action, REVIEWERS[n % len(REVIEWERS)], steps=["an edited step"], answer="7",
                         reason="wrong arithmetic")


def _explanations(e: Example, samples: int, rng: random.Random) -> list[Explanation]:
    steps = split_steps(e.rationale or "")[0] or ["no steps"]
    out = []
    for k in range(samples + 1):
        answer = e.answer if rng.random() < 0.7 else str(rng.randint(0, 99))
        out.append(Explanation(e.id, ExplanationKind.GREEDY if k == 0 else ExplanationKind.SAMPLE, k,
                               format_explanation(steps, answer), steps, answer,
                               probe_answers=[answer] * (len(steps) + 1),
                               probe_probs=[round(rng.random(), 4) for _ in range(len(steps) + 1)]))
    return out


_RUNS: list[float] = []


def _timed_script_runs() -> None:
    """Time each script run where Streamlit executes the page (its script thread), not AppTest's own set-up (which
    scans every installed package for components on each run: a few hundred ms that a server spends once)."""
    from streamlit.runtime.scriptrunner import script_runner

    real = script_runner.exec_func_with_error_handling
    if getattr(real, "timed", False):
        return

    def timed(func, ctx):
        t0 = time.perf_counter()
        try:
            return real(func, ctx)
        finally:
            _RUNS.append(time.perf_counter() - t0)

    timed.timed = True
    script_runner.exec_func_with_error_handling = timed


def time_page(page: str, workspace: Path, state: dict) -> float:
    """Server time of one script run of the page (Streamlit's AppTest runs it in this process, as a server does)."""
    from streamlit.testing.v1 import AppTest

    _timed_script_runs()
    os.environ["ELAD_WORKSPACE"] = str(workspace)
    at = AppTest.from_file(str(REPO / "app_pages" / f"{page}.py"), default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    _RUNS.clear()
    at.run()
    if at.exception:
        raise SystemExit(f"the {page} page raised on {workspace}: {at.exception[0].value}")
    return sum(_RUNS)


def time_approves(workspace: Path, repeats: int) -> list[float]:
    """One approve at a time, as the Review page's button calls it (the service, its checks and the store)."""
    store = Store(workspace)
    studio = Studio(open_workspace(str(workspace)), User.single_user("bench"))
    pid = store.projects.id_of("big")
    last = max(studio.review.rounds(pid))
    pending = [r["id"] for r in store.revisions.list(pid, last, status="pending")]
    out = []
    for rev_id in pending[:repeats]:
        t0 = time.perf_counter()
        studio.review.decide(rev_id, "approve")
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--examples", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--revisions", type=int, default=5_000)
    ap.add_argument("--samples", type=int, default=4, help="sampled explanations stored per pool question a round")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keep", help="build the big workspace here and keep it")
    ap.add_argument("--reuse", help="measure this workspace (built by --keep) without building")
    args = ap.parse_args(argv)
    os.environ["ELAD_NO_WORKER"] = "1"
    tmp = Path(tempfile.mkdtemp(prefix="elad-app-bench-"))
    empty = tmp / "empty"
    Studio(open_workspace(str(empty)), User.single_user("bench"))  # a new workspace: no project yet
    big = Path(args.reuse or args.keep or tmp / "big")
    if not args.reuse:
        t0 = time.perf_counter()
        counts = build(big, args.examples, args.rounds, args.revisions, args.samples)
        print(f"built in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v))
    state = {"project": "big", "reviewer": "bench"}
    print(f"\n# App server time, medians of {args.repeats} script runs (the page script's execution in Streamlit's "
          f"script runner, driven by AppTest in process); big: "
          f"{args.examples:,} examples, {args.rounds} rounds, {args.revisions:,} revisions")
    print("| page | empty workspace (ms) | big workspace (ms) | all runs, big (ms) | big / empty | target |")
    print("|---|---|---|---|---|---|")
    try:
        for page in PAGES:
            e = [time_page(page, empty, {}) for _ in range(args.repeats)]
            b = [time_page(page, big, state) for _ in range(args.repeats)]
            me, mb = statistics.median(e), statistics.median(b)
            print(f"| {page} | {1000 * me:.0f} | {1000 * mb:.0f} | {', '.join(f'{1000 * x:.0f}' for x in b)} | "
                  f"{mb / me:.1f}x | {'met' if mb <= PAGE_LIMIT_S else 'MISSED'} (300) |")
        a = time_approves(big, args.repeats)
        print(f"| approve (one decision) | - | {1000 * statistics.median(a):.1f} | "
              f"{', '.join(f'{1000 * x:.1f}' for x in a)} | - | "
              f"{'met' if statistics.median(a) <= APPROVE_LIMIT_S else 'MISSED'} (50) |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
