"""The oracle teacher: checks synthetic arithmetic steps exactly and rewrites from the first wrong one.

It renders the same prompts and JSON an LLM teacher would and counts their tokens with cost.py's
fixed tokenizer, so its cost is comparable. Examples without a synthetic chain fall back to the
dataset's gold rationale (answer-level check only).
"""

from __future__ import annotations

import re

from ..method.cost import count_message_tokens, count_tokens
from ..method.records import Example, StepVerdict, TeacherResult
from ..states import TeacherOutcome
from ..tasks.registry import task_for
from ..tasks.synthetic import solution_steps, solve
from .prompts import full_messages, parse_full, parse_revision, render_full, render_revision, revision_messages

# An optional restated sentence before a colon, then the arithmetic `a op b = c`.
_STEP = re.compile(r"^(?:[^:]*:)?\s*(-?\d+)\s*([+\-*x\u00d7/\u00f7])\s*(-?\d+)\s*=\s*(-?\d+)\s*\.?\s*$")


def check_step(step: str, expected: tuple[int, str, int, int]) -> StepVerdict:
    """Is `step` the expected operation `a op b = c`? Operands of + and * may come in either order."""
    m = _STEP.match(step)
    if not m:
        return StepVerdict(False, "not an arithmetic step of the form 'a op b = c'")
    op = m.group(2).replace("x", "*").replace("\u00d7", "*").replace("\u00f7", "/")
    a, b, c = int(m.group(1)), int(m.group(3)), int(m.group(4))
    ea, eop, eb, ec = expected
    same = (a, op, b) == (ea, eop, eb) or (op == eop and op in "+*" and (a, b) == (eb, ea))
    if not same:
        if op != eop:
            return StepVerdict(False, f"wrong operation: this step should be {ea} {eop} {eb}")
        return StepVerdict(False, f"wrong numbers: this step should be {ea} {eop} {eb}")
    if c != ec:
        return StepVerdict(False, f"arithmetic error: {ea} {eop} {eb} = {ec}, not {c}")
    return StepVerdict(True, "correct")


class OracleTeacher:
    name = model = "oracle"
    concurrency = 1  # it answers instantly; nothing to overlap
    simulated = True  # marked so in the ledger, the review page and exports

    def __init__(self, show_gold: bool = False):
        self.show_gold = show_gold

    def _solution(self, example: Example, answer_type: str = "number") -> tuple[list[str], str] | None:
        if "chain" in example.meta:
            chain = solve(example.meta)
            return solution_steps(example.meta), str(chain[-1][3] if chain else example.meta["start"])
        if example.rationale:
            return task_for(answer_type).rationale_steps(example.rationale), example.answer
        return None

    def judge(self, example: Example, steps: list[str], answer: str | None,
              answer_type: str = "number") -> TeacherResult:
        """The verdicts, first error and replacement steps, before rendering (token counts 0)."""
        task = task_for(answer_type)
        if "chain" in example.meta:
            chain = solve(example.meta)
            verdicts = []
            for i, step in enumerate(steps):
                if i < len(chain):
                    verdicts.append(check_step(step, chain[i]))
                else:
                    verdicts.append(StepVerdict(False, f"extra step: the problem needs only {len(chain)} steps"))
            gold_steps, gold = self._solution(example)
            first = next((i + 1 for i, v in enumerate(verdicts) if not v.correct), None)
            if first is None and (len(steps) < len(chain) or not task.matches(answer, gold)):
                first = len(steps) + 1  # steps missing, or the answer does not follow from them
            revised = [] if first is None else gold_steps[first - 1:]
            return TeacherResult(verdicts, first, revised, gold, 0, 0)
        # No exact chain: an answer-level check against the gold answer, the gold rationale as rewrite.
        ok = task.is_correct(answer, example)
        verdicts = [StepVerdict(ok, "final answer matches the reference" if ok else "final answer is wrong")
                    for _ in steps]
        sol = self._solution(example, answer_type)
        return TeacherResult(verdicts, None if ok else 1, [] if ok else (sol[0] if sol else []), example.answer, 0, 0)

    def revise(self, example: Example, steps: list[str], answer: str | None,
               answer_type: str = "number") -> TeacherResult:
        judged = self.judge(example, steps, answer, answer_type)
        raw = render_revision(judged)
        result = parse_revision(raw, len(steps), None, answer_type, example.choices)  # what it says, as an LLM would
        result.prompt_tokens = count_message_tokens(revision_messages(example, steps, answer, self.show_gold,
                                                                      answer_type))
        result.completion_tokens = count_tokens(raw)
        return result

    def annotate_full(self, example: Example, answer_type: str = "number") -> TeacherResult:
        solution = self._solution(example, answer_type)
        prompt_tokens = count_message_tokens(full_messages(example, self.show_gold, answer_type))
        if solution is None:
            return TeacherResult([], None, [], "", prompt_tokens, 0,
                                 status=TeacherOutcome.FAILED, error="the oracle has no solution for this example")
        raw = render_full(*solution)
        try:
            result = parse_full(raw, answer_type, example.choices)
        except ValueError as e:
            return TeacherResult([], None, [], "", prompt_tokens, count_tokens(raw), raw=raw,
                                 status=TeacherOutcome.FAILED, error=str(e))
        result.prompt_tokens = prompt_tokens
        result.completion_tokens = count_tokens(raw)
        return result

    # --- the backend protocol (teachers.Teacher): the reply text a well-behaved LLM teacher would send ---

    async def send(self, request, messages: list[dict], max_tokens: int):
        from .protocol import Reply
        if request.mode == "full":
            solution = self._solution(request.example, request.answer_type)
            if solution is None:
                from ..errors import TeacherError
                raise TeacherError("the oracle has no solution for this example")
            raw = render_full(*solution)
        else:
            raw = render_revision(self.judge(request.example, request.steps, request.answer, request.answer_type))
        return Reply(raw, "stop", count_message_tokens(messages), count_tokens(raw))

    def worst_prompt_tokens(self, messages: list[dict]) -> int:
        return count_message_tokens(messages)  # exact: the oracle bills with this very counter

    def params(self, max_tokens: int) -> dict:
        return {"show_gold": self.show_gold}

    async def aclose(self) -> None:
        return None
