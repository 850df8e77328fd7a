"""Pool-scoring benchmark (a benchmark, not a test): the engine's explain work (M sampled explanations + one
greedy + a probe after every step) against a naive per-question loop, on the shipped tiny student.

Run: `python -m benchmarks.scoring` (add `--rss 1000 10000` for peak memory of the streamed explain phase).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time

import torch

from elad_engine.config import DEFAULT_STUDENT, ProjectConfig
from elad_engine.method.reasoning import ANSWER_TRIGGER, build_prompt, short_answer, split_steps
from elad_engine.student.explain import explain_examples
from elad_engine.student.model import Student, truncate_after_answer
from elad_engine.student.probes import naive_token_ids, segments
from elad_engine.tasks.synthetic import generate

NEEDS = frozenset({"samples", "probes"})


def naive(student: Student, examples, cfg: ProjectConfig) -> tuple[list, list]:
    """What a first script does: generate() per question and per sample, every prefix re-encoded."""
    tok, model, u = student.tokenizer, student.model, cfg.uncertainty
    kw = dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    greedy_texts, greedy_probes = [], []
    for e in examples:
        ids = tok(build_prompt(e.question), return_tensors="pt", add_special_tokens=False)["input_ids"]
        texts = []
        for m in range(u.samples + 1):
            with torch.no_grad():
                if m == 0:
                    out = model.generate(ids, max_new_tokens=cfg.student.max_new_tokens, do_sample=False, **kw)
                else:
                    out = model.generate(ids, max_new_tokens=cfg.student.max_new_tokens, do_sample=True,
                                         temperature=u.temperature, top_p=u.top_p, top_k=0, **kw)
            texts.append(truncate_after_answer(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)))
        for m, text in enumerate(texts):
            steps = split_steps(text)[0]
            probes = []
            for k in range(len(steps) + 1):
                p = torch.tensor([naive_token_ids(tok, build_prompt(e.question), steps, k)])
                with torch.no_grad():
                    g = model.generate(p, max_new_tokens=cfg.student.probe_max_tokens, do_sample=False, **kw)
                probes.append(short_answer(tok.decode(g[0, p.shape[1]:], skip_special_tokens=True)))
            if m == 0:
                greedy_texts.append(text)
                greedy_probes.append(probes)
    return greedy_texts, greedy_probes


def useful_tokens(student: Student, explanations, questions: dict[str, str], probe_tokens: int) -> int:
    """Token positions the method needs: every explanation with its prompt, plus trigger and answer per probe."""
    trigger = len(student.tokenizer(ANSWER_TRIGGER, add_special_tokens=False)["input_ids"])
    total = 0
    for x in explanations:
        ids, bounds = segments(student.tokenizer, build_prompt(questions[x.example_id]), x.steps)
        total += len(ids) + len(bounds) * (trigger + probe_tokens)
    return total


def forward_ceiling(student: Student, length: int, batch: int = 64, repeats: int = 5) -> float:
    """Raw batched forward throughput in tokens/s (no generation, no cache bookkeeping)."""
    ids = torch.randint(5, len(student.tokenizer), (batch, length), device=student.device)
    with torch.no_grad():
        student.model(input_ids=ids)
        t0 = time.perf_counter()
        for _ in range(repeats):
            student.model(input_ids=ids)
    return batch * length * repeats / (time.perf_counter() - t0)


def rss_child(size: int) -> None:
    """Explain a pool of `size` through the real explain phase (chunks streamed to the store); print JSON."""
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store
    from elad_engine.tasks.synthetic import default_dataset

    with tempfile.TemporaryDirectory() as ws:
        store = Store(ws)
        pid = store.projects.create("rss", ProjectConfig())
        store.examples.add(pid, default_dataset(size, 10, seed=4321), "benchmark")
        runner = RoundRunner(store, pid)
        store.rounds.start(pid, 1)
        t0 = time.perf_counter()
        runner.phase_explain(1)
        seconds = time.perf_counter() - t0
        rows = store.db["explanations"].count
    print(json.dumps({"size": size, "seconds": seconds, "explanations": rows,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=int, default=48, help="questions for the naive vs engine comparison")
    ap.add_argument("--rss", type=int, nargs="*", default=[], help="pool sizes for the peak-memory runs")
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child)

    torch.manual_seed(0)
    cfg = ProjectConfig()
    student = Student.load(DEFAULT_STUDENT)
    examples = generate(args.questions, 2026)
    questions = {e.id: e.question for e in examples}

    t0 = time.perf_counter()
    explanations = explain_examples(student, examples, cfg, NEEDS, seed=0)
    engine_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive_texts, naive_probes = naive(student, examples, cfg)
    naive_s = time.perf_counter() - t0

    greedy = [x for x in explanations if x.kind == "greedy"]
    same_texts = [x.text for x in greedy] == naive_texts
    from elad_engine.student.probes import branched_probe_answers
    engine_probes = branched_probe_answers(student, [(build_prompt(questions[x.example_id]), x.steps) for x in greedy],
                                           cfg.student.probe_max_tokens)
    same_probes = engine_probes == naive_probes
    tokens = useful_tokens(student, explanations, questions, cfg.student.probe_max_tokens)
    mean_len = tokens // max(1, len(explanations))
    ceiling = forward_ceiling(student, mean_len)

    print(f"# Pool scoring, {args.questions} questions, M={cfg.uncertainty.samples} samples + greedy, probes after "
          f"every step; {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {student.device}")
    print("| path | seconds | questions/s | useful tokens/s | vs naive |")
    print("|---|---|---|---|---|")
    print(f"| naive (generate per question, prefixes re-encoded) | {naive_s:.1f} | {args.questions / naive_s:.2f} | "
          f"{tokens / naive_s:,.0f} | 1.0x |")
    print(f"| engine (batched, shared prompt cache, branched probes) | {engine_s:.1f} | "
          f"{args.questions / engine_s:.2f} | {tokens / engine_s:,.0f} | {naive_s / engine_s:.1f}x |")
    print(f"\nidentical greedy explanations: {same_texts}; identical greedy probe answers: {same_probes}")
    print(f"raw batched forward ceiling at {mean_len} tokens/sequence: {ceiling:,.0f} tokens/s; engine share: "
          f"{100 * tokens / engine_s / ceiling:.1f}%")
    if args.rss:
        print("\n| pool size | explain seconds | explanations | peak RSS (MB) |\n|---|---|---|---|")
        base = None
        for size in args.rss:
            out = subprocess.run([sys.executable, "-m", "benchmarks.scoring", "--rss-child", str(size)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            base = base or r["peak_rss_mb"]
            print(f"| {size:,} | {r['seconds']:.0f} | {r['explanations']:,} | {r['peak_rss_mb']:.0f} "
                  f"({r['peak_rss_mb'] / base:.2f}x) |")


if __name__ == "__main__":
    main()
