"""What the reference teacher does with a real student's explanations: SmolLM2-135M-Instruct explains GSM8K pool
questions greedily in the project's style (chat + 3 worked exemplars), and the reference teacher revises each one and
annotates it whole. Prints how many explanations it confirmed, revised from a step after the first (the student's
leading steps kept) and rewrote whole, and the completion tokens of a revision against a full annotation. Needs a
registered student (`make real-student`) and ../shared/datasets/gsm8k. Run:
`python -m benchmarks.reference_teacher [--student student:smollm2-135m] [--questions 64]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from benchmarks.bench_data import registered_folder
from elad_engine.method.reasoning import split_steps
from elad_engine.student.model import Student
from elad_engine.student.prompt_style import PromptStyle, pick_exemplars
from elad_engine.tasks.datasets import read_dataset
from elad_engine.tasks.registry import task_for
from elad_engine.teachers.prompts import parse_full, parse_revision
from elad_engine.teachers.protocol import build_request
from elad_engine.teachers.reference import ReferenceTeacher

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gsm8k" / "train.jsonl"


def reply(teacher: ReferenceTeacher, example, mode: str, steps: list[str], answer: str | None):
    request = build_request(example, mode, steps, answer, False, "number")
    return asyncio.run(teacher.send(request, request.messages, 512))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--student", default="student:smollm2-135m", help="student.path (registered in ./workspace)")
    p.add_argument("--questions", type=int, default=64, help="GSM8K pool questions explained")
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--data", type=Path, default=GSM8K, help="GSM8K's train.jsonl, or a file in its layout")
    args = p.parse_args(argv)
    task = task_for("number")
    rows = read_dataset(args.data, preset="gsm8k", split="pool")
    style = PromptStyle("chat", exemplars=pick_exemplars(rows, 3, seed=0, task=task))
    shown = {e.example_id for e in style.exemplars}
    questions = [e for e in rows if e.id not in shown][:args.questions]
    student = Student.load(registered_folder(args.student))
    t0 = time.perf_counter()
    texts = [t for (t,) in student.generate(style.prompts(student.tokenizer, [task.student_text(e) for e in questions]),
                                            max_new_tokens=args.max_new_tokens, batch_size=16)]
    seconds = time.perf_counter() - t0
    teacher, counts = ReferenceTeacher(), {"confirmed": 0, "revised from a later step": 0, "rewritten whole": 0}
    kept, revision_tokens, full_tokens, right = [], [], [], 0
    for example, text in zip(questions, texts):
        steps, raw = split_steps(text)
        answer = task.normalize(raw)
        right += task.is_correct(answer, example)
        revision = reply(teacher, example, "revision", steps, answer)
        result = parse_revision(revision.content, len(steps), answer, "number")
        full = reply(teacher, example, "full", [], None)
        parse_full(full.content)
        revision_tokens.append(revision.completion_tokens)
        full_tokens.append(full.completion_tokens)
        if result.first_error is None:
            counts["confirmed"] += 1
        elif result.first_error > 1:
            counts["revised from a later step"] += 1
            kept.append(result.first_error - 1)
        else:
            counts["rewritten whole"] += 1
    n = len(questions)
    print(f"{args.student}: {n} GSM8K pool questions explained greedily in {seconds:.0f} s "
          f"({style.describe()}, max_new_tokens {args.max_new_tokens}); {right} of {n} answers right\n")
    print("| reference teacher's verdict | explanations | share |\n|---|---|---|")
    for name, count in counts.items():
        print(f"| {name} | {count} | {count / n:.0%} |")
    if kept:
        print(f"\nrevised from a later step: the student's first {min(kept)}-{max(kept)} step(s) kept "
              f"(mean {statistics.mean(kept):.2f})")
    med_rev, med_full = statistics.median(revision_tokens), statistics.median(full_tokens)
    print(f"\n| reply | median completion tokens | mean |\n|---|---|---|\n| revision | {med_rev:.0f} | "
          f"{statistics.mean(revision_tokens):.1f} |\n| full annotation | {med_full:.0f} | "
          f"{statistics.mean(full_tokens):.1f} |\n\nmedian revision / median full annotation: "
          f"{med_rev / med_full:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
