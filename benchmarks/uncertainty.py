"""Does an uncertainty score find the student's errors? A diagnostic (a benchmark, not a test) on the embedded task.

Runs the warm-up (round 0) of the demo through the engine, then explains the rest of the pool once with the
warmed-up student (greedy + M samples, step probes, probe probabilities, token statistics) and reports, for every
score: its AUROC for "the greedy answer is wrong", the share of its top-b picks decided by the tie-break, and its
Spearman correlation with the other scores. Run: `python -m benchmarks.uncertainty [--pool 400] [--budget 48]`; on a
real dataset, several seeds, resumable (each seed's scores land in --out as scores-sSEED.csv when it finishes):
`python -m benchmarks.uncertainty --data ../shared/datasets/svamp/SVAMP.json --preset svamp --student
student:smollm2-135m --teacher reference --warmup 32 --seeds 0,1,2 --out benchmarks/results/uncertainty-svamp --resume`.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_data import BenchData, add_arguments, from_args


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


def explained_pool(workspace: Path, data: BenchData, seed: int, warmup: int | None = None):
    """The warm-up (round 0), then every unlabeled pool question explained once by the warmed-up student:
    (examples by id, explanations by id, project config, task)."""
    from elad_engine.rounds.context import RoundContext
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store
    from elad_engine.student.explain import explain_examples

    store = Store(workspace)
    pid = data.create(store, f"diag-s{seed}", **{"rounds.seed": seed,
                                                  **({"rounds.warmup": warmup} if warmup is not None else {})})
    outcome = RoundRunner(store, pid).run(max_rounds=1)
    if outcome.rounds_done != 1:
        raise SystemExit(f"the warm-up did not finish: {outcome.stop_reason}: {outcome.message}")
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


def write_scores(path: Path, scores: dict[str, list[float]], wrong: list[bool]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["wrong", *scores])
        w.writerows([int(wr), *(scores[k][i] for k in scores)] for i, wr in enumerate(wrong))
    tmp.replace(path)


def read_scores(path: Path) -> tuple[dict[str, list[float]], list[bool]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = [k for k in rows[0] if k != "wrong"] if rows else []
    return {k: [float(r[k]) for r in rows] for k in names}, [r["wrong"] == "1" for r in rows]


def seed_table(per_seed: dict[int, tuple[dict[str, list[float]], list[bool]]], budget: int) -> str:
    """AUROC of every score for "the greedy answer is wrong": mean over seeds and each seed's; with one seed also
    the ties and correlations."""
    fmt = (lambda v: "-" if v is None else f"{v:.3f}")
    seeds = sorted(per_seed)
    aurocs = {name: [auroc(per_seed[s][0][name], per_seed[s][1]) for s in seeds] for name in per_seed[seeds[0]][0]}
    mean = {n: statistics.mean(v) if all(x is not None for x in v) else None for n, v in aurocs.items()}
    lines = [" · ".join(f"seed {s}: {len(per_seed[s][1])} pool questions, {sum(per_seed[s][1])} greedy answers wrong "
                        f"({sum(per_seed[s][1]) / max(1, len(per_seed[s][1])):.0%})" for s in seeds), ""]
    if len(seeds) > 1:
        lines += ["| score | AUROC (greedy wrong), mean over seeds | per seed |", "|---|---|---|"]
        for name in sorted(mean, key=lambda n: -(mean[n] or 0)):
            lines.append(f"| {name} | {fmt(mean[name])} | {', '.join(fmt(v) for v in aurocs[name])} |")
        return "\n".join(lines)
    scores, wrong = per_seed[seeds[0]]
    lines += [f"| score | AUROC (greedy wrong) | ties in top-{budget} | distinct values | Spearman with inter | "
              "with perplexity |", "|---|---|---|---|---|---|"]
    for name in sorted(scores, key=lambda n: -(auroc(scores[n], wrong) or 0)):
        rho_inter, rho_ppl = spearman(scores[name], scores["inter"]), spearman(scores[name], scores["perplexity"])
        lines.append(f"| {name} | {fmt(auroc(scores[name], wrong))} | {tie_share(scores[name], budget):.0%} | "
                     f"{len(set(scores[name]))} | {fmt(rho_inter)} | {fmt(rho_ppl)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap, pool=400, test=64)
    ap.add_argument("--budget", type=int, default=48, help="b: picks per round, for the ties column")
    ap.add_argument("--seed", type=int, default=0, help="one seed (see --seeds)")
    ap.add_argument("--seeds", help="several seeds, e.g. 0,1,2 (each its own warm-up)")
    ap.add_argument("--warmup", type=int, help="warm-up samples (default: the project's)")
    ap.add_argument("--alphas", default="0.25,0.5,0.75")
    ap.add_argument("--out", type=Path, help="folder for each seed's scores CSV and uncertainty.md")
    ap.add_argument("--resume", action="store_true", help="keep the seeds whose scores CSV is already in --out")
    args = ap.parse_args(argv)
    data = from_args(args)
    if args.resume and not args.out:
        raise SystemExit("--resume continues the CSVs in --out: give --out")
    alphas = [float(a) for a in args.alphas.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    t0 = time.perf_counter()
    per_seed = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for seed in seeds:
            path = out / f"scores-s{seed}.csv"
            if args.resume and path.exists():
                per_seed[seed] = read_scores(path)
                print(f"resuming: seed {seed} read from {path}", flush=True)
                continue
            examples, by_id, cfg, task = explained_pool(Path(tmp) / f"ws{seed}", data, seed, args.warmup)
            per_seed[seed] = score_table(examples, by_id, cfg, task, alphas)
            write_scores(path, *per_seed[seed])
            print(f"seed {seed}: {len(per_seed[seed][1])} questions scored; {time.perf_counter() - t0:.0f} s",
                  flush=True)
        text = (f"# Uncertainty against the student's errors: {data.describe()}, the pool explained once by the "
                f"warmed-up student; {time.perf_counter() - t0:.0f} s this sitting\n\n"
                + seed_table(per_seed, args.budget))
        (out / "uncertainty.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
