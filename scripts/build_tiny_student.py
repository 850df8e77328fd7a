"""Rebuild the tiny demo student shipped in data/tiny-student: a 4-layer GPT-2 pre-trained from scratch on synthetic
problems of 1-6 everyday steps, where each closing skill (half a dozen, a pair, as many again, three times as many)
is rare (fixed seed, about 15 CPU minutes). Run: `make student`, or
`python scripts/build_tiny_student.py --out data/tiny-student`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from elad_engine.method.reasoning import build_prompt
from elad_engine.resources import tiny_student_path
from elad_engine.student.tiny import build_tokenizer, tokenizer_corpus
from elad_engine.student.training import fit
from elad_engine.tasks.synthetic import PRETRAINING_SKILL_SCALE, SKILLS, generate, skill_of


def build_student(out_dir: str | Path, seed: int = 0, samples: int = 45000, epochs: int = 2,
                  difficulties: dict[int, float] | None = None, log=print) -> dict:
    """Pre-train a tiny GPT-2 from scratch on problems of 1-6 everyday steps and save it to `out_dir`.

    It learns the explanation format, the everyday operations and chaining them, but meets each closing skill
    only about twenty times (SKILLS' weights x PRETRAINING_SKILL_SCALE), so it is unsure of the skills, and ELAD
    rounds have something to teach it.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(tokenizer_corpus())
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=256, n_layer=4, n_head=4,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = GPT2LMHeadModel(config)
    mix = difficulties or {k: 1 / 6 for k in range(1, 7)}  # one step longer than the pool's 1-5 (+ a skill)
    # Seeds far from the demo's (1234/1235) keep pre-training data out of the pool and test split.
    data = generate(samples, seed + 100_000, mix, prefix="pre", skill_scale=PRETRAINING_SKILL_SCALE)
    t0 = time.perf_counter()
    last = [t0]

    def on_step(step: int, total: int, loss: float) -> None:
        if time.perf_counter() - last[0] > 30 or step == total:
            last[0] = time.perf_counter()
            log(f"pre-training step {step}/{total} loss {loss:.3f} ({last[0] - t0:.0f}s)")

    result = fit(model, tokenizer, [build_prompt(e.question) for e in data], [e.rationale for e in data],
                 learning_rate=1e-3, epochs=epochs, batch_size=32, max_length=256, seed=seed, on_step=on_step)
    met = Counter(skill_of(e) for e in data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out_dir)  # fp16 halves the shipped size; loading upcasts to fp32 on the CPU
    tokenizer.save_pretrained(out_dir)
    info = {"seed": seed, "samples": samples, "epochs": epochs, "mix": {str(k): v for k, v in mix.items()},
            "skills": {k.name: {"template": k.template, "pool_weight": k.weight,
                                 "pretraining_examples": met[k.name]} for k in SKILLS},
            "parameters": sum(p.numel() for p in model.parameters()), "final_loss": result.final_loss,
            "train_seconds": round(result.seconds, 1), "tokens": result.tokens}
    (out_dir / "build_info.json").write_text(json.dumps(info, indent=2))
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Rebuild the tiny demo student from scratch (fixed seed).")
    p.add_argument("--out", default=str(tiny_student_path()),
                   help="output folder (default: %(default)s, the shipped student)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=45000, help="pre-training problems (default 45000)")
    args = p.parse_args(argv)
    print(build_student(args.out, seed=args.seed, samples=args.samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
