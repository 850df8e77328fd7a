"""The embedded default: seeded multi-step arithmetic word problems and the tiny student built for them.

Rebuild the shipped student with `python -m elad_engine build-student` (fixed seed, a few CPU minutes).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from .reasoning import build_prompt, format_explanation
from .records import Example

NAMES = [("Ann", "She"), ("Ben", "He"), ("Cara", "She"), ("Dan", "He"), ("Eva", "She"), ("Finn", "He"),
         ("Gus", "He"), ("Hana", "She")]
ITEMS = ["apples", "pens", "coins", "books", "cards", "shells", "stamps", "marbles"]
ADD = ["{p} buys {n} more.", "{p} finds {n} more.", "{p} gets {n} more."]
SUB = ["{p} gives away {n}.", "{p} loses {n}.", "{p} sells {n}."]
MUL = {2: "{p} doubles them.", 3: "{p} triples them."}
# Phrases the tiny student's pre-training data gets wrong half of the time (noisy "web" knowledge): it
# is unsure what they mean, its sampled explanations of questions that use them disagree, and the
# teacher's revisions are what settle them. Each maps to the (op, operand) it is mistaken for.
CONFUSED = {"{p} finds {n} more.": "-", "{p} sells {n}.": "+", "{p} triples them.": "*2"}
MAX_VALUE = 50  # small numbers: few arithmetic facts, so a tiny model can master them
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _operation(rng: random.Random, value: int) -> tuple[str, int, str]:
    """A random operation valid at `value` (results stay in 0..MAX_VALUE): (op, operand, sentence template)."""
    options = (["+"] if value < MAX_VALUE else []) + (["-"] if value > 0 else []) + (
        ["*"] if 0 < value * 2 <= MAX_VALUE else [])
    op = rng.choice(options)
    if op == "+":
        return op, rng.randint(1, min(9, MAX_VALUE - value)), rng.choice(ADD)
    if op == "-":
        return op, rng.randint(1, min(9, value)), rng.choice(SUB)
    n = 3 if value * 3 <= MAX_VALUE and value <= 12 and rng.random() < 0.4 else 2
    return op, n, MUL[n]


def _mistaken(op: str, n: int, template: str, value: int) -> tuple[str, int]:
    """What a noisy source computes for a CONFUSED phrase, when the result stays in range."""
    wrong = CONFUSED[template]
    w_op, w_n = (wrong[0], int(wrong[1:])) if len(wrong) > 1 else (wrong, n)
    return (w_op, w_n) if 0 <= OPS[w_op](value, w_n) <= MAX_VALUE else (op, n)


def make_problem(rng: random.Random, steps: int, uid: str, noisy: bool = False) -> Example:
    """One problem with `steps` operations; meta holds the start value and the (op, operand, sentence) chain.

    noisy=True writes the tiny student's pre-training data: each CONFUSED phrase is computed as the
    operation it is mistaken for, half of the time.
    """
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    value = start = rng.randint(2, 15)
    sentences, chain = [f"{name} has {value} {item}."], []
    for _ in range(steps):
        op, n, template = _operation(rng, value)
        sentence = template.format(p=pronoun, n=n)
        if noisy and template in CONFUSED and rng.random() < 0.5:
            op, n = _mistaken(op, n, template, value)
        sentences.append(sentence)
        chain.append([op, n, sentence.rstrip(".")])
        value = OPS[op](value, n)
    sentences.append(f"How many {item} does {name} have now?")
    meta = {"start": start, "chain": chain}
    return Example(id=uid, question=" ".join(sentences), answer=str(value),
                   rationale=format_explanation(solution_steps(meta), str(value)), difficulty=steps, meta=meta)


def generate(n: int, seed: int, difficulties: dict[int, float] | None = None, prefix: str = "s",
             noisy: bool = False) -> list[Example]:
    """n problems; `difficulties` maps step count -> weight (default: 1-4 steps, equally likely)."""
    rng = random.Random(seed)
    weights = difficulties or {1: 1, 2: 1, 3: 1, 4: 1}
    ks, ws = zip(*sorted(weights.items()))
    return [make_problem(rng, rng.choices(ks, ws)[0], f"{prefix}{seed}-{i}", noisy) for i in range(n)]


def solve(meta: dict) -> list[tuple[int, str, int, int]]:
    """The exact chain as (a, op, b, result) tuples."""
    value, out = meta["start"], []
    for op, n, *_ in meta["chain"]:
        new = OPS[op](value, n)
        out.append((value, op, n, new))
        value = new
    return out


def solution_steps(meta: dict) -> list[str]:
    """Canonical steps: each restates its sentence, then computes: `She buys 5 more: 7 + 5 = 12`.

    Restating the sentence makes every step local (copy the next sentence, then compute), which is
    what lets a tiny model chain steps at all.
    """
    return [f"{link[2]}: {a} {op} {b} = {c}" if len(link) > 2 else f"{a} {op} {b} = {c}"
            for link, (a, op, b, c) in zip(meta["chain"], solve(meta))]


def default_dataset(pool: int = 400, test: int = 200, seed: int = 1234) -> list[Example]:
    """The demo's pool and test split: 1-4 steps, equally likely, disjoint seeds."""
    rows = generate(pool, seed, prefix="pool")
    for e in rows:
        e.split = "pool"
    tests = generate(test, seed + 1, prefix="test")
    for e in tests:
        e.split = "test"
    return rows + tests


# --- the tiny student -------------------------------------------------------------------------------

# Words, single digits (with an optional leading space), punctuation and newlines are tokens, so a
# number is spelled digit by digit and the model can learn column arithmetic.
PRETOKENIZE = r" ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]|\n| +"
SPECIAL = ["<pad>", "<unk>", "<bos>", "<eos>"]


def build_tokenizer(texts: list[str]):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(PRETOKENIZE), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=SPECIAL, min_frequency=1))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<bos>", eos_token="<eos>")


def tokenizer_corpus() -> list[str]:
    """Every word the task can produce, so the vocabulary is closed."""
    words = [n for n, _ in NAMES] + [p for _, p in NAMES] + ITEMS
    texts = [" ".join(words), " ".join(s for s in ADD + SUB + list(MUL.values())),
             "How many does have now? 0123456789 + - * = . : Question Answer The answer is",
             build_prompt("x") + format_explanation(["1 + 2 = 3"], "3")]
    return texts + [build_prompt(e.question) + e.rationale for e in generate(200, 7)]


def build_student(out_dir: str | Path, seed: int = 0, samples: int = 55000, epochs: int = 1,
                  difficulties: dict[int, float] | None = None, log=print) -> dict:
    """Pre-train a tiny GPT-2 from scratch on mostly one-step problems and save it to `out_dir`.

    It learns the explanation format and the operations, but its data computes the CONFUSED phrases
    wrongly half of the time: the longer a chain, the likelier it meets one, so it is unreliable on
    multi-step problems, and ELAD rounds have something to teach it.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from .training import fit

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(tokenizer_corpus())
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=256, n_layer=4, n_head=4,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = GPT2LMHeadModel(config)
    mix = difficulties or {1: 0.55, 2: 0.15, 3: 0.15, 4: 0.15}
    # Seeds far from the demo's (1234/1235) keep pre-training data out of the pool and test split.
    data = generate(samples, seed + 100_000, mix, prefix="pre", noisy=True)
    t0 = time.perf_counter()
    last = [t0]

    def on_step(step: int, total: int, loss: float) -> None:
        if time.perf_counter() - last[0] > 30 or step == total:
            last[0] = time.perf_counter()
            log(f"pre-training step {step}/{total} loss {loss:.3f} ({last[0] - t0:.0f}s)")

    result = fit(model, tokenizer, [build_prompt(e.question) for e in data], [e.rationale for e in data],
                 learning_rate=1e-3, epochs=epochs, batch_size=32, max_length=256, seed=seed, on_step=on_step)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out_dir)  # fp16 halves the shipped size; loading upcasts to fp32 on the CPU
    tokenizer.save_pretrained(out_dir)
    info = {"seed": seed, "samples": samples, "epochs": epochs, "mix": {str(k): v for k, v in mix.items()},
            "confused_phrases": CONFUSED,
            "parameters": sum(p.numel() for p in model.parameters()), "final_loss": result.final_loss,
            "train_seconds": round(result.seconds, 1), "tokens": result.tokens}
    (out_dir / "build_info.json").write_text(json.dumps(info, indent=2))
    return info
