"""The embedded task: seeded multi-step arithmetic word problems with their exact step-by-step solutions. A chain of
everyday operations may end with a "skill", an operation said in words the everyday phrases never use (half a dozen,
a pair, as many again, three times as many); the tiny student met each skill only a few times in pre-training, so
the skills are what ELAD rounds have to teach it (scripts/build_tiny_student.py builds that student).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..method.reasoning import format_explanation
from ..method.records import Example

NAMES = [("Ann", "She"), ("Ben", "He"), ("Cara", "She"), ("Dan", "He"), ("Eva", "She"), ("Finn", "He"),
         ("Gus", "He"), ("Hana", "She")]
ITEMS = ["apples", "pens", "coins", "books", "cards", "shells", "stamps", "marbles"]
ADD = ["{p} buys {n} more.", "{p} finds {n} more.", "{p} gets {n} more."]
SUB = ["{p} gives away {n}.", "{p} loses {n}.", "{p} sells {n}."]
MUL = {2: "{p} doubles them.", 3: "{p} triples them."}
MAX_VALUE = 30  # small numbers: few arithmetic facts, so a tiny model can master them
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a // b}


@dataclass(frozen=True)
class Skill:
    """A closing event that says its operation in words the everyday phrases never use ("half a dozen more"); its
    step restates it in the everyday form (`restated`, e.g. "She buys 6 more"), so the skill is a mapping from words
    to an operation the student already knows. `weight` is its share of pool problems."""
    name: str
    template: str
    op: str
    operand: int
    restated: str
    weight: float

    def applies(self, value: int) -> bool:
        return 0 <= OPS[self.op](value, self.operand) <= MAX_VALUE


# Skills of uneven frequency (where they apply, about half of the pool's problems end with one).
SKILLS = [Skill("half-dozen", "Then {p} buys half a dozen more.", "+", 6, "{P} buys 6 more", 0.30),
          Skill("pair", "Then {p} loses a pair.", "-", 2, "{P} loses 2", 0.22),
          Skill("again", "Then {p} gets as many again.", "*", 2, "{P} doubles them", 0.15),
          Skill("three-times", "Then {p} ends up with three times as many.", "*", 3, "{P} triples them", 0.08)]
PRETRAINING_SKILL_SCALE = 0.003  # pre-training meets each skill this many times less often than the pool (~20 times)


def _operation(rng: random.Random, value: int) -> tuple[str, int, str]:
    """A random everyday operation valid at `value` (results stay in 0..MAX_VALUE): (op, operand, template)."""
    options = (["+"] if value < MAX_VALUE else []) + (["-"] if value > 0 else []) + (
        ["*"] if 0 < value * 2 <= MAX_VALUE else [])
    op = rng.choice(options)
    if op == "+":
        return op, rng.randint(1, min(9, MAX_VALUE - value)), rng.choice(ADD)
    if op == "-":
        return op, rng.randint(1, min(9, value)), rng.choice(SUB)
    n = 3 if value * 3 <= MAX_VALUE and value <= 12 and rng.random() < 0.4 else 2
    return op, n, MUL[n]


def _closing_skill(rng: random.Random, value: int, scale: float) -> Skill | None:
    """The skill that ends the problem (drawn by weight x scale), or None; a skill invalid at `value` means none."""
    r, edge = rng.random(), 0.0
    for skill in SKILLS:
        edge += skill.weight * scale
        if r < edge:
            return skill if skill.applies(value) else None
    return None


def skill_of(example: Example) -> str | None:
    """The name of the skill a synthetic problem ends with, or None."""
    chain = example.meta.get("chain") or []
    return chain[-1][3] if chain and len(chain[-1]) > 3 else None


def make_problem(rng: random.Random, steps: int, uid: str, skill_scale: float = 1.0) -> Example:
    """One problem with `steps` everyday operations, perhaps closed by a skill (`skill_scale` scales SKILLS'
    weights: 1 for the pool and test split, PRETRAINING_SKILL_SCALE for the student's pre-training data); meta holds
    the start value and the (op, operand, sentence) chain."""
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    value = start = rng.randint(2, 15)
    sentences, chain = [f"{name} has {value} {item}."], []
    for _ in range(steps):
        op, n, template = _operation(rng, value)
        sentence = template.format(p=pronoun, n=n)
        sentences.append(sentence)
        chain.append([op, n, sentence.rstrip(".")])
        value = OPS[op](value, n)
    skill = _closing_skill(rng, value, skill_scale)
    if skill:
        sentences.append(skill.template.format(p=pronoun.lower()))
        chain.append([skill.op, skill.operand, skill.restated.format(P=pronoun), skill.name])
        value = OPS[skill.op](value, skill.operand)
    sentences.append(f"How many {item} does {name} have now?")
    meta = {"start": start, "chain": chain}
    return Example(id=uid, question=" ".join(sentences), answer=str(value),
                   rationale=format_explanation(solution_steps(meta), str(value)), difficulty=len(chain), meta=meta)


def generate(n: int, seed: int, difficulties: dict[int, float] | None = None, prefix: str = "s",
             skill_scale: float = 1.0) -> list[Example]:
    """n problems; `difficulties` maps the number of everyday steps -> weight (default: 1-5, equally likely); a
    closing skill adds one step."""
    rng = random.Random(seed)
    weights = difficulties or {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    ks, ws = zip(*sorted(weights.items()))
    return [make_problem(rng, rng.choices(ks, ws)[0], f"{prefix}{seed}-{i}", skill_scale) for i in range(n)]


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
    """The demo's pool and test split: 1-5 everyday steps, equally likely, then perhaps a skill; disjoint seeds."""
    rows = generate(pool, seed, prefix="pool")
    for e in rows:
        e.split = "pool"
    tests = generate(test, seed + 1, prefix="test")
    for e in tests:
        e.split = "test"
    return rows + tests
