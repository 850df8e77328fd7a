"""The reference teacher (`teacher.kind = "reference"`): a simulated teacher that plays the teacher from the dataset's
own reference solutions, for dry runs of strategies and budgets before paying for an LLM, and for benchmarks on real
datasets offline.

Where the reference holds worked steps with values (GSM8K's calculator annotations `<<48/2=24>>`, SVAMP's equation,
other presets' rationales with `a op b = c`), it checks the student's steps in order: a step is wrong when its
arithmetic does not hold, its result is none of the values of the question and the reference solution, or it repeats
itself or an earlier step (a student looping on one line). The steps
before the first wrong one are kept and the rest is rewritten with the reference's remaining steps (those after the
last reference value the kept steps reached). A reference without values (facts, a sentence) is checked at the
answer only; a row without a reference has nothing to teach, and the teacher says so (the sample goes to review as
teacher_failed). It renders the prompts and replies an LLM teacher would, so its token counts and prices compare.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from decimal import Decimal

from ..errors import TeacherError
from ..method.cost import count_message_tokens, count_tokens
from ..method.records import Example, StepVerdict, TeacherResult
from ..tasks.number import canonical_number
from ..tasks.registry import task_for
from .prompts import render_full, render_revision

# A number as written in a step ($1,200.50, 0.2, -3); a result is the number right after the last `=`, not
# followed by more arithmetic or a variable (`70 = 27 + x` and `8p = 5p + 3000` state no result).
_NUMBER = r"(?:(?<![\w).])-(?=\d))?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBERS = re.compile(_NUMBER)
_RESULT = re.compile(rf"=\s*({_NUMBER})(?![A-Za-z])\s*%?(?!\s*[-+*/x×÷^\d])")
# A calculation and the result it states: numbers, operators, parentheses and currency signs, then `= number`.
_CALCULATION = re.compile(rf"([-+*/x×÷()\d.,$\s]+)=\s*({_NUMBER})(?![A-Za-z])(?!\s*[-+*/x×÷^\d])")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
NO_REFERENCE = ("the data holds only a final answer for this question, no reference steps: the reference teacher has "
                "nothing to check the student's steps against or to teach from (give the dataset a rationale column, "
                "or use an LLM teacher)")


def _value(text: str) -> float | None:
    canon = canonical_number(text.replace("$", "").replace(" ", ""))
    return float(Decimal(canon)) if canon is not None else None


def numbers_in(text: str) -> list[float]:
    """Every number written in `text`, in order."""
    return [v for v in (_value(m) for m in _NUMBERS.findall(text)) if v is not None]


def step_result(step: str) -> float | None:
    """What a step claims to have found: the number after its last `=`, else the last number it writes."""
    found = _RESULT.findall(step)
    if found:
        return _value(found[-1])
    if "=" in step:
        return None  # an equation with an unknown (`70 = 27 + x`): no value to check
    numbers = numbers_in(step)
    return numbers[-1] if numbers else None


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("not arithmetic")


def arithmetic_holds(step: str) -> bool | None:
    """Whether every `calculation = result` the step writes is right (None when it writes none that can be read)."""
    checked = None
    for expr, stated in _CALCULATION.findall(step):
        expr = re.sub(r"(?<=\d),(?=\d{3})", "", expr.replace("$", "").replace("×", "*").replace("x", "*"))
        expr = re.sub(r"^[^\d(-]+", "", expr.replace("÷", "/")).strip()
        result = _value(stated)
        if result is None or not re.search(r"\d\s*[-+*/]\s*[\d(]", expr):
            continue  # a restated value (`= 24`), not a calculation
        try:
            value = _evaluate(ast.parse(expr, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError):
            continue
        if not same_value(value, result):
            return False
        checked = True
    return checked


def repeats(step: str, earlier: list[str]) -> bool:
    """A step that says again what an earlier step said, or that repeats a sentence of its own."""
    said = " ".join(step.lower().split())
    sentences = [x for x in re.split(r"(?<=[.!?])\s+", said) if x]
    return said in {" ".join(e.lower().split()) for e in earlier} or len(sentences) != len(set(sentences))


def same_value(a: float, b: float) -> bool:
    """Equal, or equal to the cent when one of the two is rounded (0.33 for 1/3)."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b)) or abs(a - b) < 0.005 and max(abs(a), abs(b)) >= 0.01


@dataclass
class ReferenceSolution:
    """A row's reference: its steps in the student's format, each step's result, and every value it mentions."""

    steps: list[str]
    results: list[float | None]
    values: list[float]  # the question's numbers, the reference's numbers and results, and the gold answer

    @property
    def has_values(self) -> bool:
        """Worked steps with results (`a op b = c`), which the student's steps can be checked against."""
        return any(r is not None and "=" in s for s, r in zip(self.steps, self.results))

    def knows(self, value: float) -> bool:
        return any(same_value(value, v) for v in self.values)

    def remaining(self, reached: list[float]) -> list[str]:
        """The reference steps after the last one whose result the kept steps reached."""
        last = max((i + 1 for i, r in enumerate(self.results)
                    if r is not None and any(same_value(r, v) for v in reached)), default=0)
        return self.steps[last:]


def reference_of(example: Example, answer_type: str) -> ReferenceSolution | None:
    """The row's reference solution, or None when the data holds only a final answer."""
    if not example.rationale or not example.rationale.strip():
        return None
    steps = task_for(answer_type).rationale_steps(example.rationale)
    if not steps:
        return None
    results = [step_result(s) for s in steps]
    calculations = [c for c in example.meta.get("calculations", []) if isinstance(c, str)]
    values = numbers_in(example.question) + [n for s in steps for n in numbers_in(s)]
    values += [v for c in calculations for v in numbers_in(c)]
    gold = _value(example.answer) if answer_type == "number" else None
    values += [gold] if gold is not None else []
    return ReferenceSolution(steps, results, values)


class ReferenceTeacher:
    """The teacher backend for dry runs: replies an LLM teacher would give, computed from the reference."""

    name = model = "reference"
    concurrency = 1  # it answers instantly; nothing to overlap
    simulated = True  # marked so in the ledger, the review page and exports

    def __init__(self, show_gold: bool = False):
        self.show_gold = show_gold

    def judge(self, example: Example, steps: list[str], answer: str | None, answer_type: str) -> TeacherResult:
        """The first wrong step of the student's explanation and the reference's steps from there (TeacherError when
        the row has no reference)."""
        reference = reference_of(example, answer_type)
        if reference is None:
            raise TeacherError(NO_REFERENCE)
        right = task_for(answer_type).is_correct(answer, example)
        verdicts: list[StepVerdict] = []
        if reference.has_values:
            for k, step in enumerate(steps):
                verdict = self._check(step, reference, steps[:k])
                verdicts.append(verdict)
                if not verdict.correct:
                    break
        elif steps:  # no values to check steps against: the answer decides
            verdicts = [StepVerdict(right, "final answer matches the reference" if right else "wrong final answer")]
        first = next((i + 1 for i, v in enumerate(verdicts) if not v.correct), None)
        if first is None and (not right or not steps):
            first = len(steps) + 1
            verdicts.append(StepVerdict(False, "steps missing"))
        if first is None:
            return TeacherResult(verdicts, None, [], example.answer, 0, 0)
        if not reference.has_values:
            first = 1  # an answer-level check cannot say which step went wrong: the reference replaces them all
        reached = [r for r in (step_result(s) for s in steps[:first - 1]) if r is not None]
        return TeacherResult(verdicts, first, reference.remaining(reached), example.answer, 0, 0)

    @staticmethod
    def _check(step: str, reference: ReferenceSolution, earlier: list[str] = ()) -> StepVerdict:
        if repeats(step, earlier):  # a student looping on one line teaches nothing, whatever its numbers
            return StepVerdict(False, "repeated text")
        holds = arithmetic_holds(step)
        if holds is False:
            return StepVerdict(False, "arithmetic error")
        result = step_result(step)
        if result is not None and not reference.knows(result):
            return StepVerdict(False, "value not in the solution")
        return StepVerdict(True, "")

    # --- the backend protocol (teachers.Teacher): the reply text a well-behaved LLM teacher would send ---

    async def send(self, request, messages: list[dict], max_tokens: int):
        from .protocol import Reply
        if request.mode == "full":
            reference = reference_of(request.example, request.answer_type)
            if reference is None:
                raise TeacherError(NO_REFERENCE)
            raw = render_full(reference.steps, request.example.answer)
        else:
            raw = render_revision(self.judge(request.example, request.steps, request.answer, request.answer_type))
        return Reply(raw, "stop", count_message_tokens(messages), count_tokens(raw))

    def worst_prompt_tokens(self, messages: list[dict]) -> int:
        return count_message_tokens(messages)  # exact: it bills with this very counter

    def params(self, max_tokens: int) -> dict:
        return {"show_gold": self.show_gold}

    async def aclose(self) -> None:
        return None
