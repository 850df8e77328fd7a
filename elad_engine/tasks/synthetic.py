"""The embedded task: seeded multi-step arithmetic word problems with their exact step-by-step solutions, and the
noisy variant the tiny student was pre-trained on (scripts/build_tiny_student.py builds that student).
"""

from __future__ import annotations

import random

from ..method.reasoning import format_explanation
from ..method.records import Example

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
