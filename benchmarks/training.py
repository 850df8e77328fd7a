"""Training benchmark (a benchmark, not a test): one round's LoRA training of the shipped tiny student on
500 samples of the embedded task: plain shuffled padded batches against length-grouped and packed ones,
and the engine's default (length-grouped with bf16 autocast where the CPU has it natively).

Run: `python -m benchmarks.training [--samples 500] [--epochs 4]`.
"""

from __future__ import annotations

import argparse
import platform
import statistics

import torch

from elad_engine.config import TrainingConfig
from elad_engine.method.reasoning import build_prompt
from elad_engine.resources import TINY_STUDENT
from elad_engine.student.batching import encode_pairs
from elad_engine.student.hardware import native_bf16
from elad_engine.student.model import Student
from elad_engine.student.training import fit
from elad_engine.tasks.synthetic import generate


def run(prompts, completions, cfg: TrainingConfig, batching: str, dropout: bool, precision: str = "fp32"):
    from peft import LoraConfig, get_peft_model

    student = Student.load(TINY_STUDENT)
    if not dropout:  # GPT-2's attention/residual dropout: about a fifth of a CPU step (see README)
        for m in student.model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
    torch.manual_seed(0)
    model = get_peft_model(student.model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                     target_modules="all-linear", task_type="CAUSAL_LM"))
    return fit(model, student.tokenizer, prompts, completions, learning_rate=cfg.learning_rate, epochs=cfg.epochs,
               batch_size=cfg.batch_size, max_length=cfg.max_length, seed=0, batching=batching,
               precision=precision)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=TrainingConfig().epochs)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each batching, interleaved; medians shown")
    ap.add_argument("--no-dropout", action="store_true", help="switch the base model's dropout off in all runs")
    args = ap.parse_args(argv)
    cfg = TrainingConfig(epochs=args.epochs)
    data = generate(args.samples, 99)
    prompts, completions = [build_prompt(e.question) for e in data], [e.rationale for e in data]
    tok = Student.load(TINY_STUDENT).tokenizer
    lengths = [len(x) for x, _ in encode_pairs(tok, prompts, completions, cfg.max_length)]
    names = {"padded": "shuffled, padded to the batch's longest (fp32)", "grouped": "length-grouped (fp32)",
             "packed": "length-grouped and packed (fp32)", "engine": "length-grouped, bf16 autocast where native "
             f"({'on' if native_bf16(torch.device('cpu')) else 'off'} here): the engine's default"}
    seconds: dict[str, list[float]] = {k: [] for k in names}
    results = {}
    for _ in range(args.repeats):  # interleaved, so a slow spell on a shared machine hits every variant
        for key in names:
            results[key] = run(prompts, completions, cfg, "grouped" if key == "engine" else key,
                               not args.no_dropout, "auto" if key == "engine" else "fp32")
            seconds[key].append(results[key].seconds)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    print(f"# LoRA r={cfg.lora_r} on {args.samples} samples x {cfg.epochs} epochs, batch {cfg.batch_size}, "
          f"lengths {min(lengths)}-{max(lengths)} tokens; {platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; model dropout {'off' if args.no_dropout else 'as configured (0.1)'}")
    print(f"| batching | median seconds (of {args.repeats}) | all runs | real tokens/s | vs padded | "
          "final loss (last 10% of steps) |")
    print("|---|---|---|---|---|---|")
    for key, r in results.items():
        print(f"| {names[key]} | {median[key]:.1f} | {', '.join(f'{s:.1f}' for s in seconds[key])} | "
              f"{r.tokens / median[key]:,.0f} | {median['padded'] / median[key]:.2f}x | {r.final_loss:.4f} |")


if __name__ == "__main__":
    main()
