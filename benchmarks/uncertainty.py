"""Does an uncertainty score find the student's errors? A diagnostic (a benchmark, not a test) on the embedded task.

Runs the warm-up (round 0) of the demo through the engine, then explains the rest of the pool once with the
warmed-up student (greedy + M samples, step probes, probe probabilities, token statistics) and reports, for every
score: its AUROC for "the greedy answer is wrong", the share of its top-b picks decided by the tie-break, and its
Spearman correlation with the other scores. Run: `python -m benchmarks.uncertainty [--pool 400] [--budget 48]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def average_ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auroc(scores: list[float], positive: list[bool]) -> float | None:
    """P(score of a random positive > score of a random negative), ties counting one half (Mann-Whitney U)."""
    n_pos, n_neg = sum(positive), len(positive) - sum(positive)
    if not n_pos or not n_neg:
        return None
    ranks = average_ranks(scores)
    return (sum(r for r, p in zip(ranks, positive) if p) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def spearman(a: list[float], b: list[float]) -> float | None:
    ra, rb = average_ranks(a), average_ranks(b)
    if len(set(ra)) < 2 or len(set(rb)) < 2:
        return None
    return statistics.correlation(ra, rb)


def tie_share(scores: list[float], budget: int) -> float:
    """The share of the top-`budget` picks whose score equals that of a question left out: those picks were made
    by the seeded tie-break, not by the score."""
    ranked = sorted(scores, reverse=True)
    if budget >= len(ranked):
        return 0.0
    outside = set(ranked[budget:])
    return sum(s in outside for s in ranked[:budget]) / budget


def explained_pool(workspace: Path, pool: int, test: int, seed: int):
    """The demo's warm-up, then every unlabeled pool question explained once by the warmed-up student:
    (examples by id, explanations by id, project config)."""
    from elad_engine.projects import create_demo_project
    from elad_engine.rounds.context import RoundContext
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store
    from elad_engine.student.explain import explain_examples

    store = Store(workspace)
    pid = create_demo_project(store, name="diag", pool=pool, test=test, **{"rounds.seed": seed})
    RoundRunner(store, pid).run(max_rounds=1)
    ctx = RoundContext(store, pid)
    ids = ctx.unlabeled_pool()
    examples = {e.id: e for e in store.examples.list(pid, ids=ids)}
    student = ctx.student_for(1)
    xs = explain_examples(student, list(examples.values()), ctx.cfg, frozenset({"samples", "probes", "stats",
                                                                                "probs"}), seed=seed,
                          style=ctx.style(student.tokenizer))
    by_id: dict[str, list] = {}
    for x in xs:
        by_id.setdefault(x.example_id, []).append(x)
    return examples, by_id, ctx.cfg, ctx.task


def score_table(examples, by_id, cfg, task, alphas: list[float]) -> tuple[dict[str, list[float]], list[bool]]:
    """Every score of every question (same question order), and whether its greedy answer is wrong."""
    from elad_engine.method.uncertainty import INTRA, question_scores
    from elad_engine.states import ExplanationKind

    ids = sorted(by_id)
    wrong = []
    for i in ids:
        greedy = next(x for x in by_id[i] if x.kind == ExplanationKind.GREEDY)
        wrong.append(not task.is_correct(greedy.answer, examples[i]))
    scores: dict[str, list[float]] = {}
    for name in INTRA:
        for alpha in alphas:
            per = [question_scores(by_id[i], alpha, name) for i in ids]
            scores.setdefault(f"intra:{name}", [p["intra"] for p in per])
            scores[f"elad:{name}:a={alpha:g}"] = [p["elad"] for p in per]
    base = [question_scores(by_id[i], cfg.uncertainty.alpha, "hard") for i in ids]
    for key in ("inter", "answer_entropy", "perplexity"):
        scores[key] = [p[key] for p in base]
    return scores, wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", type=int, default=400, help="demo pool size (the warm-up takes 8 of it)")
    ap.add_argument("--test", type=int, default=64)
    ap.add_argument("--budget", type=int, default=48, help="b: picks per round, for the ties column")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alphas", default="0.25,0.5,0.75")
    args = ap.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        examples, by_id, cfg, task = explained_pool(Path(tmp) / "ws", args.pool, args.test, args.seed)
        scores, wrong = score_table(examples, by_id, cfg, task, alphas)
    seconds = time.perf_counter() - t0
    share = sum(wrong) / len(wrong)
    print(f"# Uncertainty against the student's errors: {len(wrong)} pool questions explained once by the warmed-up "
          f"tiny student (M={cfg.uncertainty.samples}), {sum(wrong)} greedy answers wrong ({share:.0%}); "
          f"{seconds:.0f} s")
    print()
    names = list(scores)
    print(f"| score | AUROC (greedy wrong) | ties in top-{args.budget} | distinct values | "
          "Spearman with inter | with perplexity |")
    print("|---|---|---|---|---|---|")
    for name in sorted(names, key=lambda n: -(auroc(scores[n], wrong) or 0)):
        au = auroc(scores[name], wrong)
        rho_inter, rho_ppl = spearman(scores[name], scores["inter"]), spearman(scores[name], scores["perplexity"])
        fmt = (lambda v: "-" if v is None else f"{v:.3f}")
        print(f"| {name} | {fmt(au)} | {tie_share(scores[name], args.budget):.0%} | {len(set(scores[name]))} | "
              f"{fmt(rho_inter)} | {fmt(rho_ppl)} |")


if __name__ == "__main__":
    main()
