"""Training benchmark (a benchmark, not a test): one round's LoRA training of the shipped tiny student on
500 samples of the embedded task, plain shuffled padded batches against length-grouped batches.

Run: `python -m benchmarks.training [--samples 500] [--epochs 4]`.
"""

from __future__ import annotations

import argparse
import platform

import torch

from elad_engine.config import DEFAULT_STUDENT, TrainingConfig
from elad_engine.reasoning import build_prompt
from elad_engine.student import Student
from elad_engine.synthetic import generate
from elad_engine.training import encode_pairs, fit


def run(prompts, completions, cfg: TrainingConfig, grouped: bool):
    from peft import LoraConfig, get_peft_model

    student = Student.load(DEFAULT_STUDENT)
    torch.manual_seed(0)
    model = get_peft_model(student.model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                     target_modules="all-linear", task_type="CAUSAL_LM"))
    return fit(model, student.tokenizer, prompts, completions, learning_rate=cfg.learning_rate, epochs=cfg.epochs,
               batch_size=cfg.batch_size, max_length=cfg.max_length, seed=0, group_by_length=grouped)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=TrainingConfig().epochs)
    args = ap.parse_args()
    cfg = TrainingConfig(epochs=args.epochs)
    data = generate(args.samples, 99)
    prompts, completions = [build_prompt(e.question) for e in data], [e.rationale for e in data]
    tok = Student.load(DEFAULT_STUDENT).tokenizer
    lengths = [len(x) for x, _ in encode_pairs(tok, prompts, completions, cfg.max_length)]
    padded = run(prompts, completions, cfg, grouped=False)
    grouped = run(prompts, completions, cfg, grouped=True)
    print(f"# LoRA r={cfg.lora_r} on {args.samples} samples x {cfg.epochs} epochs, batch {cfg.batch_size}, "
          f"lengths {min(lengths)}-{max(lengths)} tokens; {platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print("| batching | seconds | real tokens/s | vs padded | final loss (last 10% of steps) |")
    print("|---|---|---|---|---|")
    for name, r in (("shuffled, padded to the batch's longest", padded), ("length-grouped", grouped)):
        print(f"| {name} | {r.seconds:.1f} | {r.tokens / r.seconds:,.0f} | "
              f"{(r.tokens / r.seconds) / (padded.tokens / padded.seconds):.2f}x | {r.final_loss:.4f} |")


if __name__ == "__main__":
    main()
