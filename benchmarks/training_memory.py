"""Peak resident memory of one training phase: LoRA on GSM8K's gold rationales in the chat style with 3 exemplars (long
prompts, as a real project has), batch 16, in this process. It imports only what every version of the engine has, so
the same file measures an older checkout too (run it with that checkout first on PYTHONPATH). Run:
`python -m benchmarks.training_memory --student FOLDER [--samples 64] [--batch 16]` (prints one JSON line).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import tempfile
import time
from pathlib import Path

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gsm8k" / "train.jsonl"
SYSTEM = ("You solve problems step by step. Write each step on its own numbered line (1., 2., ...), one short "
          "calculation or fact per step, then a last line exactly like: The answer is 42.")


def gsm8k_rows(n: int, path: Path = GSM8K) -> list[tuple[str, str]]:
    """(question, explanation in the numbered format) of the first n GSM8K training rows."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[:n]:
        row = json.loads(line)
        steps, _, answer = row["answer"].rpartition("####")
        lines = [re.sub(r"<<[^>]*>>", "", s).strip() for s in steps.splitlines() if s.strip()]
        text = "".join(f"{i}. {s}\n" for i, s in enumerate(lines, 1)) + f"The answer is {answer.strip()}."
        rows.append((row["question"], text))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--student", required=True, help="a model folder with a chat template")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--data", type=Path, default=GSM8K, help="GSM8K's train.jsonl, or a file in its layout")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--micro-batch-tokens", type=int, help="training.micro_batch_tokens (newer engines only)")
    p.add_argument("--checkpointing", action="store_true", help="training.gradient_checkpointing (newer engines)")
    p.add_argument("--whole-rows", action="store_true", help="training.share_prefix = false: every row runs the "
                   "exemplars (newer engines)")
    p.add_argument("--dtype", default="auto", help="student.dtype: auto (bfloat16 where the CPU runs it natively), "
                   "float32, bfloat16")
    args = p.parse_args(argv)
    try:
        from elad_engine.student.model import Student
        from elad_engine.student.training import train_student
    except ImportError:  # an older checkout: flat modules
        from elad_engine.student import Student
        from elad_engine.training import train_student
    from elad_engine.config import TrainingConfig

    rows = gsm8k_rows(args.samples + 3, args.data)
    shots, data = rows[:3], rows[3:]
    student = Student.load(args.student, device="cpu", dtype=args.dtype)
    tok = student.tokenizer

    def prompt(question: str) -> str:
        messages = [{"role": "system", "content": SYSTEM}]
        for q, a in shots:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": question})
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    prompts, completions = [prompt(q) for q, _ in data], [a for _, a in data]
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    newer = {"micro_batch_tokens": args.micro_batch_tokens} if args.micro_batch_tokens is not None else {}
    newer |= {"gradient_checkpointing": True} if args.checkpointing else {}
    newer |= {"share_prefix": False} if args.whole_rows else {}
    cfg = TrainingConfig(batch_size=args.batch, epochs=1, max_length=args.max_length, learning_rate=2e-4, **newer)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = train_student(student, prompts, completions, cfg, Path(out) / "adapter")
    seconds = time.perf_counter() - t0
    print(json.dumps({"dtype": str(next(student.model.parameters()).dtype)[6:],
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "rss_after_load_mb": round(loaded), "seconds": round(seconds, 1), "steps": result.steps,
                      "tokens": result.tokens, "tokens_per_s": round(result.tokens / seconds),
                      "mean_prompt_tokens": round(sum(len(tok(x)["input_ids"]) for x in prompts) / len(prompts)),
                      "final_loss": round(result.final_loss, 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
