"""Pool-scoring benchmark (a benchmark, not a test): the engine's explain work (M sampled explanations + one
greedy + a probe after every step, and the soft probe p_k) against a naive per-question loop, and against the
model's raw batched forward throughput measured in the same run.

Run: `python -m benchmarks.scoring` on the shipped tiny student; `--student FOLDER --questions 8` on another model
(`make real-student` puts SmolLM2-135M-Instruct in workspace/artifacts/students/smollm2-135m); `--rss 1000 10000`
adds the peak memory of the streamed explain phase at those pool sizes, each in a fresh process; `--parts` times
each part of the engine's explain phase.
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from benchmarks.bench_data import registered_folder
from elad_engine.config import ProjectConfig
from elad_engine.method.reasoning import ANSWER_TRIGGER, short_answer, split_steps
from elad_engine.method.selection import get_strategy
from elad_engine.method.uncertainty import intra_variant
from elad_engine.states import ExplanationKind
from elad_engine.student.decode import shared_prefix
from elad_engine.student.explain import explain_examples
from elad_engine.student.model import Student, truncate_after_answer
from elad_engine.student.probes import naive_token_ids, segments
from elad_engine.student.prompt_style import PromptStyle, pick_exemplars, shot_count, style_kind
from elad_engine.tasks.registry import task_for
from elad_engine.tasks.synthetic import generate


def bench_style(student: Student) -> PromptStyle:
    """The prompt style a project gives this student: chat with 3 worked exemplars where it has a chat template (a
    prefix shared by every prompt), the bare completion scaffold elsewhere."""
    kind = style_kind("auto", student.tokenizer)
    return PromptStyle(kind, exemplars=pick_exemplars(generate(50, 7), shot_count(-1, kind), seed=0))


def work(cfg: ProjectConfig) -> tuple[frozenset, bool]:
    """What one round's explain phase computes for the configured strategy, and whether that includes p_k."""
    needs = get_strategy(cfg.selection.strategy).needs
    return needs, "probes" in needs and intra_variant(cfg.uncertainty.intra).needs_probs


def naive(student: Student, prompts: list[str], cfg: ProjectConfig, soft: bool) -> tuple[list, list]:
    """What a first script does: generate() per question and per sample, every probe prefix re-encoded and decoded
    on its own, and (soft) p_k teacher-forced per prefix."""
    tok, model, u = student.tokenizer, student.model, cfg.uncertainty
    kw = dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    greedy_texts, greedy_probes = [], []
    for prompt in prompts:
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(student.device)
        texts = []
        for m in range(u.samples + 1):
            with torch.no_grad():
                sampling = dict(do_sample=True, temperature=u.temperature, top_p=u.top_p, top_k=0) if m else \
                    dict(do_sample=False)
                out = model.generate(ids, max_new_tokens=cfg.student.max_new_tokens, **sampling, **kw)
            texts.append(truncate_after_answer(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)))
        for m, text in enumerate(texts):
            steps = split_steps(text)[0]
            probes = []
            for k in range(len(steps) + 1):
                p = torch.tensor([naive_token_ids(tok, prompt, steps, k)], device=student.device)
                with torch.no_grad():
                    g = model.generate(p, max_new_tokens=cfg.student.probe_max_tokens, do_sample=False, **kw)
                probes.append(short_answer(tok.decode(g[0, p.shape[1]:], skip_special_tokens=True)))
            target = tok(f" {probes[-1]}.", add_special_tokens=False)["input_ids"]
            for k in range(len(steps) + 1 if soft else 0):
                p_ids = naive_token_ids(tok, prompt, steps, k)
                with torch.no_grad():
                    model(torch.tensor([p_ids + target], device=student.device))
            if m == 0:
                greedy_texts.append(text)
                greedy_probes.append(probes)
    return greedy_texts, greedy_probes


def useful_tokens(student: Student, explanations, prompt_of: dict[str, str], probe_tokens: int, soft: bool) -> int:
    """Token positions the method needs: every explanation with its prompt, plus trigger and answer per probe, plus
    (soft) trigger and target per soft probe; the prefix every prompt shares (system turn and exemplars) once."""
    tok = student.tokenizer
    trigger = len(tok(ANSWER_TRIGGER, add_special_tokens=False)["input_ids"])
    shared = shared_prefix([tok(p, add_special_tokens=False)["input_ids"] for p in set(prompt_of.values())])
    total = shared
    for x in explanations:
        ids, bounds = segments(tok, prompt_of[x.example_id], x.steps)
        target = len(tok(f" {(x.probe_answers or ['0'])[-1]}.", add_special_tokens=False)["input_ids"])
        total += len(ids) - shared + len(bounds) * (trigger + probe_tokens + (trigger + target if soft else 0))
    return total


CEILING_SECONDS = [3.0]  # how long each ceiling measurement runs (--ceiling-seconds)


def forward_ceiling(student: Student, length: int, rows: int = 16, seconds: float | None = None) -> float:
    """Raw batched forward throughput in tokens/s: `rows` random sequences of `length` tokens through the model
    (all positions through the transformer, the LM head on the last: as the engine's prefills run), repeated for at
    least `seconds` after one warm-up pass (no generation, no cache bookkeeping)."""
    ids = torch.randint(5, len(student.tokenizer), (rows, length), device=student.device)
    seconds = CEILING_SECONDS[0] if seconds is None else seconds
    with torch.no_grad():
        student.model(input_ids=ids, logits_to_keep=1)
        done, t0 = 0, time.perf_counter()
        while done < 2 or time.perf_counter() - t0 < seconds:
            student.model(input_ids=ids, logits_to_keep=1)
            done += 1
    return rows * length * done / (time.perf_counter() - t0)


def rss_child(size: int) -> None:
    """Explain a pool of `size` through the real explain phase (chunks streamed to the store); print JSON."""
    from elad_engine.rounds.context import RoundContext
    from elad_engine.rounds.phases import PHASES
    from elad_engine.states import Phase
    from elad_engine.store import Store
    from elad_engine.tasks.synthetic import default_dataset

    with tempfile.TemporaryDirectory() as ws:
        store = Store(ws)
        pid = store.projects.create("rss", ProjectConfig())
        store.examples.add(pid, default_dataset(size, 10, seed=4321), "benchmark")
        store.rounds.start(pid, 1)
        t0 = time.perf_counter()
        PHASES[Phase.EXPLAIN](RoundContext(store, pid), 1)
        seconds = time.perf_counter() - t0
        rows = store.db["explanations"].count
    print(json.dumps({"size": size, "seconds": seconds, "explanations": rows,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def compare(student: Student, cfg: ProjectConfig, questions: int, engine_runs: int = 3, naive_too: bool = True) -> dict:
    """Time the engine and the naive loop on the same questions and check their results against each other
    (`naive_too` False: the engine and its ceiling alone, with the greedy answers kept for a comparison)."""
    style = bench_style(student)
    examples = generate(questions, 2026)
    prompts = style.prompts(student.tokenizer, [e.question for e in examples])
    seed, (needs, soft) = 0, work(cfg)
    explain_examples(student, examples[:2], cfg, needs, seed=seed, style=style)  # warm-up, both paths
    naive(student, prompts[:1], cfg, soft)
    # The engine and the ceiling alternate, engine_runs times: on a shared machine each share compares the two
    # under the same conditions (a ceiling measured minutes later, after the naive loop, could see another load).
    engine_s, ceilings = [], []
    for run in range(engine_runs):
        t0 = time.perf_counter()
        explanations = explain_examples(student, examples, cfg, needs, seed=seed, style=style)
        engine_s.append(time.perf_counter() - t0)
        if run == 0:
            tokens = useful_tokens(student, explanations, dict(zip([e.id for e in examples], prompts)),
                                   cfg.student.probe_max_tokens, soft)
            mean_len, first = tokens // max(1, len(explanations)), [x.text for x in explanations]
        elif [x.text for x in explanations] != first:
            raise SystemExit("the engine's explanations differ between runs under the same seed")
        ceilings.append(forward_ceiling(student, mean_len))
    print(f"engine: {', '.join(f'{t:.1f}' for t in engine_s)} s", file=sys.stderr, flush=True)
    greedy = [x for x in explanations if x.kind == ExplanationKind.GREEDY]
    engine = {"style": style.describe(), "soft": soft, "engine_s": engine_s, "tokens": tokens, "mean_len": mean_len,
              "ceilings": ceilings, "answers": [x.answer for x in greedy]}
    if not naive_too:
        return engine
    t0 = time.perf_counter()
    naive_texts, naive_probes = naive(student, prompts, cfg, soft)
    naive_s = time.perf_counter() - t0
    print(f"naive: {naive_s:.1f} s", file=sys.stderr, flush=True)

    task, u = task_for(cfg.task), cfg.uncertainty
    reference = student.generate(prompts, max_new_tokens=cfg.student.max_new_tokens, num_samples=u.samples,
                                 sample=True, temperature=u.temperature, top_p=u.top_p, seed=seed,
                                 batch_size=cfg.student.batch_size)
    mine = {e.id: [x.text for x in explanations if x.example_id == e.id and x.kind == ExplanationKind.SAMPLE]
            for e in examples}
    return {**engine, "naive_s": naive_s, "greedy": len(greedy),
            "same_texts": sum(x.text == t for x, t in zip(greedy, naive_texts)),
            "same_probes": sum(x.probe_answers == [task.normalize(a, None) for a in p]
                               for x, p in zip(greedy, naive_probes)),
            "samples": sum(len(r) for r in reference),
            "same_samples": sum(a == b for e, ref in zip(examples, reference) for a, b in zip(mine[e.id], ref))}


def report(r: dict, name: str, questions: int, cfg: ProjectConfig, device) -> None:
    ceiling, tokens, u = statistics.median(r["ceilings"]), r["tokens"], cfg.uncertainty
    engine_s = statistics.median(r["engine_s"])
    shares = [100 * tokens / t / c for t, c in zip(r["engine_s"], r["ceilings"])]
    print(f"# Pool scoring on {name}, {questions} questions, M={u.samples} samples + greedy, probes after every "
          f"step{' and p_k' if r['soft'] else ''} ({cfg.selection.strategy}, intra {u.intra}); "
          f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {device}, prompt style {r['style']}")
    print("| path | seconds | questions/s | useful tokens/s | vs naive | share of the forward ceiling |")
    print("|---|---|---|---|---|---|")
    for label, secs, share in [
            ("naive (generate per question and sample, every probe prefix re-encoded)", r["naive_s"],
             f"{100 * tokens / r['naive_s'] / ceiling:.1f}%"),
            (f"engine (own decode loop: shared prefill, rows leave as they finish, probes branched from the decode "
             f"cache with the final answer as a draft; median of {', '.join(f'{t:.1f}' for t in r['engine_s'])} s)",
             engine_s, f"{statistics.median(shares):.1f}% (median of {', '.join(f'{x:.1f}' for x in shares)})")]:
        print(f"| {label} | {secs:.1f} | {questions / secs:.2f} | {tokens / secs:,.0f} | "
              f"{r['naive_s'] / secs:.1f}x | {share} |")
    print(f"| raw batched forward ceiling (16 rows x {r['mean_len']} tokens, each measured after an engine run; "
          f"median of {', '.join(f'{c:,.0f}' for c in r['ceilings'])}) | - | - | {ceiling:,.0f} | - | 100% |")
    print(f"\nidentical greedy explanations: {r['same_texts']} of {r['greedy']}; identical greedy probe answers: "
          f"{r['same_probes']} of {r['greedy']}; sampled explanations identical to generate() under the same seed: "
          f"{r['same_samples']} of {r['samples']}")


def dtype_report(by_dtype: dict[str, dict], name: str, questions: int, device) -> None:
    """One table for the engine in several dtypes and the naive loop (run in the last dtype), each against the
    forward ceiling of its own dtype; then how often the dtypes' greedy answers differ."""
    last = list(by_dtype)[-1]
    naive_s, tokens = by_dtype[last]["naive_s"], by_dtype[last]["tokens"]
    print(f"# Pool scoring on {name} by dtype, {questions} questions; {platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, device {device}, "
          f"prompt style {by_dtype[last]['style']}")
    print("| path | seconds | useful tokens/s | vs naive | forward ceiling of its dtype (tokens/s) | share of it |")
    print("|---|---|---|---|---|---|")
    ceiling = statistics.median(by_dtype[last]["ceilings"])
    print(f"| naive ({last}) | {naive_s:.1f} | {tokens / naive_s:,.0f} | 1.0x | {ceiling:,.0f} | "
          f"{100 * tokens / naive_s / ceiling:.1f}% |")
    for dtype, r in by_dtype.items():
        secs, ceiling = statistics.median(r["engine_s"]), statistics.median(r["ceilings"])
        shares = [100 * r["tokens"] / t / c for t, c in zip(r["engine_s"], r["ceilings"])]
        print(f"| engine ({dtype}; median of {', '.join(f'{t:.1f}' for t in r['engine_s'])} s) | {secs:.1f} | "
              f"{r['tokens'] / secs:,.0f} | {naive_s / secs:.1f}x | {ceiling:,.0f} | "
              f"{statistics.median(shares):.1f}% |")
    r = by_dtype[last]
    print(f"\nin {last}: identical greedy explanations (engine against naive): {r['same_texts']} of {r['greedy']}; "
          f"greedy probe answers: {r['same_probes']} of {r['greedy']}; sampled explanations identical to generate(): "
          f"{r['same_samples']} of {r['samples']}")
    names = list(by_dtype)
    for a, b in zip(names, names[1:]):
        pairs = list(zip(by_dtype[a]["answers"], by_dtype[b]["answers"]))
        differ = sum(x != y for x, y in pairs)
        print(f"greedy answers that differ between {a} and {b}: {differ} of {len(pairs)} ({differ / len(pairs):.0%})")


def ceiling_table(path: str, name: str, dtypes: list[str]) -> None:
    """The raw forward ceiling (16 rows x 160 tokens) of `path` in each dtype, with what the CPU offers."""
    from elad_engine.student.hardware import native_bf16

    cpu = torch.device("cpu")
    print(f"# Forward ceiling of {name} by dtype; {platform.machine()}, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native bfloat16 {native_bf16(cpu)}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| dtype (as loaded) | tokens/s | vs the first |\n|---|---|---|")
    first = None
    for dtype in dtypes:
        student = Student.load(path, dtype=dtype)
        rate = forward_ceiling(student, 160)
        first = first or rate
        print(f"| {dtype} ({str(next(student.model.parameters()).dtype)[6:]}) | {rate:,.0f} | {rate / first:.2f}x |")


def parts_table(student: Student, cfg: ProjectConfig, questions: int, runs: int = 3) -> None:
    """Seconds per engine run in each part of the explain phase: the decode loop's and the probes' functions are
    wrapped with timers (time inside a part is charged to the phase that called it)."""
    from contextlib import ExitStack
    from unittest import mock

    from elad_engine.student import decode, kv_cache, probes

    spent, phase = collections.defaultdict(float), ["other"]

    def timed(fn, name, sets_phase):
        def run(*args, **kwargs):
            outer, t0 = phase[0], time.perf_counter()
            phase[0] = name if sets_phase else outer
            try:
                return fn(*args, **kwargs)
            finally:
                phase[0] = outer
                spent[name if sets_phase else f"{outer}: {name}"] += time.perf_counter() - t0
        return run

    parts = [(decode, "decode", "decode", True), (probes, "_run", "probes", True),
             (decode.Batch, "feed", "feed", False), (decode, "prefill", "prefill", False),
             (decode, "_sample", "sample", False),
             (decode.Batch, "compact", "compact", False), (kv_cache.KVStore, "put", "put", False),
             (kv_cache, "branches", "branches", False), (decode.StopRule, "finished", "finished", False)]
    style = bench_style(student)
    examples, (needs, _) = generate(questions, 2026), work(cfg)
    explain_examples(student, examples[:2], cfg, needs, seed=0, style=style)
    samplers = []

    class CountedSampler(decode.Sampler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            samplers.append(self)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(decode, "Sampler", CountedSampler))
        for owner, attr, label, sets_phase in parts:
            stack.enter_context(mock.patch.object(owner, attr, timed(getattr(owner, attr), label, sets_phase)))
        t0 = time.perf_counter()
        for _ in range(runs):
            explain_examples(student, examples, cfg, needs, seed=0, style=style)
        total = (time.perf_counter() - t0) / runs
    print(f"\n| part (seconds per engine run, mean of {runs}; {total:.2f} s in all) | seconds |\n|---|---|")
    for name, secs in sorted(spent.items()):
        if secs / runs >= 0.005:
            print(f"| {name} | {secs / runs:.2f} |")
    cut, sorted_ = sum(s.rows_cut for s in samplers), sum(s.rows_sorted for s in samplers)
    if cut + sorted_:
        print(f"\ntop-p: {cut:,} sampled rows cut from their {decode.Sampler.TOP_P_WINDOW} most likely tokens, "
              f"{sorted_:,} sorted whole ({cut / (cut + sorted_):.1%} cut)")


def rss_table(sizes: list[int]) -> None:
    print("\n| pool size | explain seconds | explanations | peak RSS (MB) |\n|---|---|---|---|")
    base = None
    for size in sizes:
        out = subprocess.run([sys.executable, "-m", "benchmarks.scoring", "--rss-child", str(size)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        base = base or r["peak_rss_mb"]
        print(f"| {size:,} | {r['seconds']:.0f} | {r['explanations']:,} | {r['peak_rss_mb']:.0f} "
              f"({r['peak_rss_mb'] / base:.2f}x) |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--questions", type=int, default=48, help="questions for the naive vs engine comparison")
    ap.add_argument("--student", help="a model folder (default: the shipped tiny student)")
    ap.add_argument("--max-new-tokens", type=int, help="student.max_new_tokens (default: the config's, 160)")
    ap.add_argument("--engine-runs", type=int, default=3, help="engine runs, each followed by a ceiling measurement")
    ap.add_argument("--parts", action="store_true", help="also time each part of the engine's explain phase")
    ap.add_argument("--rss", type=int, nargs="*", default=[], help="pool sizes for the peak-memory runs")
    ap.add_argument("--dtypes", help="comma-separated student dtypes to compare, e.g. float32,auto (the last also "
                    "runs the naive loop); default: the config's student.dtype alone")
    ap.add_argument("--ceilings-only", action="store_true", help="with --dtypes: only each dtype's forward ceiling "
                    "(16 rows x 160 tokens; seconds, where a dtype the CPU lacks makes the engine runs take hours)")
    ap.add_argument("--ceiling-seconds", type=float, default=3.0, help="seconds each ceiling measurement runs")
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rss_child:
        return rss_child(args.rss_child)
    torch.manual_seed(0)
    CEILING_SECONDS[0] = args.ceiling_seconds
    overrides = {"student.path": registered_folder(args.student)} if args.student else {}
    if args.max_new_tokens:
        overrides["student.max_new_tokens"] = args.max_new_tokens
    cfg = ProjectConfig().with_overrides(**overrides)
    name = args.student or "the shipped tiny student"
    if args.dtypes and args.ceilings_only:
        return ceiling_table(cfg.student.path, name, args.dtypes.split(","))
    if args.dtypes:
        by_dtype, dtypes = {}, args.dtypes.split(",")
        for i, dtype in enumerate(dtypes):
            student = Student.load(cfg.student.path, dtype=dtype)
            label = f"{dtype} = {str(next(student.model.parameters()).dtype)[6:]}" if dtype == "auto" else dtype
            by_dtype[label] = compare(student, cfg, args.questions, args.engine_runs, naive_too=i == len(dtypes) - 1)
            if i < len(dtypes) - 1:
                del student
        dtype_report(by_dtype, name, args.questions, student.device)
    else:
        student = Student.load(cfg.student.path)
        report(compare(student, cfg, args.questions, args.engine_runs), name, args.questions, cfg, student.device)
    if args.parts:
        parts_table(student, cfg, args.questions)
    if args.rss:
        rss_table(args.rss)


if __name__ == "__main__":
    main()
