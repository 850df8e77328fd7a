"""A real pretrained student, measured: format compliance of its round-0 (untrained) explanations in the completion,
chat and chat + 3 exemplars styles on the embedded task and on GSM8K, and the seconds and tokens/s of every phase of
a warm-up plus one round with the oracle (the reference teacher on GSM8K). Needs a registered student (`make
real-student`). Run:
`python -m benchmarks.real_models --student student:smollm2-135m [--questions 64] [--rounds-pool 64]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.bench_data import registered_folder
from elad_engine.accounts import User
from elad_engine.method.accuracy import format_compliance
from elad_engine.service import Studio
from elad_engine.store import Store
from elad_engine.student.model import Student
from elad_engine.student.prompt_style import PromptStyle, pick_exemplars
from elad_engine.tasks.datasets import read_dataset
from elad_engine.tasks.registry import task_for
from elad_engine.tasks.synthetic import default_dataset

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gsm8k"


def task_data(task: str, n: int, gsm8k: Path = GSM8K) -> tuple[list, list]:
    """(pool with gold rationales, the first n test questions) of the embedded task or GSM8K."""
    if task == "synthetic":
        rows = default_dataset(200, n, seed=4321)
        return [e for e in rows if e.split == "pool"], [e for e in rows if e.split == "test"]
    return (read_dataset(gsm8k / "train.jsonl", preset="gsm8k", split="pool")[:500],
            read_dataset(gsm8k / "test.jsonl", preset="gsm8k", split="test")[:n])


def compliance_table(student: Student, n: int, max_new_tokens: int, gsm8k: Path = GSM8K) -> list[str]:
    lines = ["| task | style | format followed | seconds | tokens | tokens/s |", "|---|---|---|---|---|---|"]
    for task in ("synthetic", "gsm8k"):
        if task == "gsm8k" and not (gsm8k / "test.jsonl").exists():
            lines.append("| gsm8k | - | (../shared/datasets/gsm8k not found) | | | |")
            continue
        pool, tests = task_data(task, n, gsm8k)
        for style in (PromptStyle("completion"), PromptStyle("chat"),
                      PromptStyle("chat", exemplars=pick_exemplars(pool, 3, seed=0))):
            t0, g0 = time.perf_counter(), student.generated_tokens
            texts = [t for (t,) in student.generate(style.prompts(student.tokenizer, [e.question for e in tests]),
                                                    max_new_tokens=max_new_tokens, batch_size=16)]
            seconds, tokens = time.perf_counter() - t0, student.generated_tokens - g0
            share = format_compliance(texts, task_for("number"))
            lines.append(f"| {task} ({len(tests)} questions) | {style.describe()} | {share:.0%} | {seconds:.0f} | "
                         f"{tokens:,} | {tokens / seconds:.1f} |")
    return lines


def phase_table(student_path: str, pool: int, test: int, task: str = "synthetic", gsm8k: Path = GSM8K) -> list[str]:
    """Warm-up of 16 plus one round of 16 with the oracle (on GSM8K: the reference teacher, which checks the steps
    against the reference solution's values), and each phase's seconds and tokens."""
    settings = {"rounds.warmup": 16, "rounds.rounds": 1, "selection.round_budget": 16, "uncertainty.samples": 2}
    with tempfile.TemporaryDirectory() as ws:
        studio = Studio(Store(ws), User.system("benchmark"))
        if task == "synthetic":
            pid = studio.projects.create_demo(pool=pool, test=test, student=student_path, **settings)
        else:
            from elad_engine.method.records import Example
            from elad_engine.projects import REAL_STUDENT
            from elad_engine.tasks.datasets import write_jsonl
            rows = task_data("gsm8k", test, gsm8k)
            data = [Example(**{**e.__dict__, "split": "pool"}) for e in rows[0][:pool]] + rows[1]
            write_jsonl(Path(ws) / "gsm8k.jsonl", data)
            pid, _ = studio.projects.import_file("gsm8k", Path(ws) / "gsm8k.jsonl", preset="synthetic")
            studio.projects.set(pid, **{**REAL_STUDENT, **settings, "student.path": student_path,
                                        "student.max_new_tokens": 256, "review.policy": "auto-approve",
                                        "teacher.kind": "reference"})
        t0 = time.perf_counter()
        outcome = studio.rounds.run(pid)
        total = time.perf_counter() - t0
        store = Store(ws)
        lines = [f"{task}: pool {pool}, test {test}", "| round | phase | seconds | tokens | tokens/s | what it did |",
                 "|---|---|---|---|---|---|"]
        for p in store.phases.list(pid):
            speed = f"{p['tokens'] / p['seconds']:.1f}" if p["tokens"] and p["seconds"] else "-"
            lines.append(f"| {p['round']} | {p['phase']} | {p['seconds']:.1f} | {p['tokens'] or '-'} | {speed} | "
                         f"{p['detail']} |")
        lines.append(f"\n{outcome.stop_reason}: {outcome.message}; {total:.0f} s in all")
        lines.append(studio.metrics.table_text(pid))
        return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--student", default="student:smollm2-135m", help="student.path (registered in ./workspace)")
    p.add_argument("--questions", type=int, default=64, help="test questions per task for the compliance table")
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--rounds-pool", type=int, default=64, help="pool (and test) size of the timed rounds; 0 skips")
    p.add_argument("--skip-compliance", action="store_true", help="only the timed rounds")
    p.add_argument("--task", choices=["synthetic", "gsm8k"], default="synthetic", help="task of the timed rounds")
    p.add_argument("--gsm8k", type=Path, default=GSM8K, help="a folder with GSM8K's train.jsonl and test.jsonl")
    args = p.parse_args(argv)
    folder = registered_folder(args.student)
    student = Student.load(folder)
    print(f"student {args.student} ({folder}), {sum(p.numel() for p in student.model.parameters()):,} parameters\n")
    if not args.skip_compliance:
        print("\n".join(compliance_table(student, args.questions, args.max_new_tokens, args.gsm8k)))
    if args.rounds_pool:
        del student
        print("\n" + "\n".join(phase_table(folder, args.rounds_pool, args.rounds_pool, args.task, args.gsm8k)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
