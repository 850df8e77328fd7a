"""Teacher prompts and the parser of their JSON answers. PROMPT_VERSION is stored with every revision,
so a change here never mixes with cached or past answers of an older prompt.
"""

from __future__ import annotations

import json
import re

from ..method.reasoning import ANSWER_TRIGGER
from ..method.records import Example, StepVerdict, TeacherResult
from ..tasks.registry import task_for

# revise-v4: the reason names the kind of error in two or three words (v3: "a few words").
# revise-v3: the lean reply (first error, one reason, the rewrite, the answer; no verdict per step).
# v2: the task shows the choices (lettered for choice tasks).
PROMPT_VERSION = "revise-v4/full-v2/repair-v1"

SYSTEM = ("You are a meticulous teacher checking a student's step-by-step reasoning. "
          "Reply with one JSON object and nothing else.")

REVISION_INSTRUCTIONS = """Check the student's numbered steps in order and find the first wrong one.
Return JSON with exactly these keys:
  "first_error": the number of the first wrong step, or null if every step and the answer are right
                 (use the number after the last step when only the final answer is wrong or steps are missing)
  "reason": what kind of error it is, in two or three words ("" when first_error is null)
  "revised_steps": the steps that replace the student's steps from first_error to the end, one short
                   step per string, without numbering ([] when first_error is null)
  "answer": the correct final answer, as short as possible (a number, letter or label)"""

# The output schemas, for endpoints that take `response_format: json_schema` (strict: every key required).
REVISION_SCHEMA = {"type": "object", "additionalProperties": False,
                   "required": ["first_error", "reason", "revised_steps", "answer"],
                   "properties": {"first_error": {"type": ["integer", "null"]}, "reason": {"type": "string"},
                                  "revised_steps": {"type": "array", "items": {"type": "string"}},
                                  "answer": {"type": "string"}}}
FULL_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["steps", "answer"],
               "properties": {"steps": {"type": "array", "items": {"type": "string"}}, "answer": {"type": "string"}}}


def output_schema(mode: str) -> dict:
    """The JSON schema of a reply in `mode` (revision | full)."""
    return FULL_SCHEMA if mode == "full" else REVISION_SCHEMA

FULL_INSTRUCTIONS = """Solve the question step by step.
Return JSON with exactly these keys:
  "steps": the reasoning steps, one short step per string, without numbering
  "answer": the final answer, as short as possible (a number, letter or label)"""


def _question_block(example: Example, show_gold: bool, answer_type: str) -> str:
    text = f"Question: {task_for(answer_type).teacher_text(example)}"
    if show_gold and example.answer:  # a pool row may have no gold answer
        text += f"\nReference answer: {example.answer}"
    return text


def revision_messages(example: Example, steps: list[str], answer: str | None, show_gold: bool = False,
                      answer_type: str = "number") -> list[dict]:
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)) or "(no steps)"
    user = (f"{_question_block(example, show_gold, answer_type)}\n\nStudent explanation:\n{numbered}\n"
            f"{ANSWER_TRIGGER} {answer if answer is not None else '(none)'}.\n\n{REVISION_INSTRUCTIONS}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def full_messages(example: Example, show_gold: bool = False, answer_type: str = "number") -> list[dict]:
    user = f"{_question_block(example, show_gold, answer_type)}\n\n{FULL_INSTRUCTIONS}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


REPAIR_INSTRUCTIONS = ("Your reply could not be used: {error}. Reply again with only the complete JSON object "
                       "asked for above, and keep each reason short.")


def repair_messages(messages: list[dict], reply: str, error: str) -> list[dict]:
    """The one repair turn after a malformed or truncated reply: the conversation so far plus what was wrong."""
    return list(messages) + [{"role": "assistant", "content": reply},
                             {"role": "user", "content": REPAIR_INSTRUCTIONS.format(error=error)}]


def render_revision(result: TeacherResult) -> str:
    """The lean JSON a well-behaved teacher returns for this result (used by offline teachers): the steps before
    the first error are right by construction, so only the first error's reason is written."""
    first = result.first_error
    reason = result.verdicts[first - 1].reason if first is not None and first <= len(result.verdicts) else (
        "" if first is None else "steps missing")
    reason = reason.split(":")[0]  # a few words: what kind of error; the revised step shows the right one
    return json.dumps({"first_error": first, "reason": reason, "revised_steps": result.revised_steps,
                       "answer": result.answer})


def render_full(steps: list[str], answer: str) -> str:
    return json.dumps({"steps": steps, "answer": answer})


def extract_json(text: str) -> dict:
    """The JSON object in a reply, tolerating code fences and prose around it. ValueError if none."""
    cleaned = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.MULTILINE).strip()
    try:
        value = json.loads(cleaned)
    except json.JSONDecodeError:
        start, end = cleaned.find("{"), cleaned.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("no JSON object in the teacher's reply") from None
        try:
            value = json.loads(cleaned[start:end + 1])
        except json.JSONDecodeError as e:
            raise ValueError(f"the teacher's JSON is malformed: {e}") from None
    if not isinstance(value, dict):
        raise ValueError("the teacher's JSON is not an object")
    return value


def _steps(value, key: str) -> list[str]:
    """The steps of a reply: text, not bare numbers (`[1, 2]` is a shape with nothing in it)."""
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"'{key}' must be a list of strings, one step each")
    steps = [re.sub(r"^\s*\d+\s*[.)](?!\d)\s*", "", s).strip() for s in value if s.strip()]
    bare = [s for s in steps if not re.search(r"[A-Za-z+*/=×÷-]", s)]
    if bare:
        raise ValueError(f"'{key}' must hold reasoning steps, not bare values such as {bare[0]!r}")
    return steps


def _answer(value, answer_type: str, choices: list[str] | None) -> str:
    """The reply's answer as text, checked to be readable as the task's answer (one of the choices, if any)."""
    answer = str(value).strip() if value is not None else ""
    if answer and task_for(answer_type).normalize(answer, choices) is None:
        among = f" among the choices {', '.join(choices)}" if choices else ""
        raise ValueError(f"'answer' {answer!r} is not a {answer_type} answer{among}")
    return answer


def parse_revision(text: str, n_student_steps: int, student_answer: str | None = None,
                   answer_type: str = "number", choices: list[str] | None = None) -> TeacherResult:
    """Read a revision reply into a TeacherResult (token counts left 0). ValueError names what is wrong, in shape
    (keys, types, a step number in range) or in consistency (steps that are text, an answer of the task's type, and
    no answer that contradicts the student's when first_error says every step is right)."""
    data = extract_json(text)
    for key in ("first_error", "revised_steps", "answer"):
        if key not in data:
            raise ValueError(f"the teacher's JSON has no '{key}'")
    first = data["first_error"]
    if first is not None:
        if isinstance(first, str) and first.strip().isdigit():
            first = int(first)
        if not isinstance(first, int) or isinstance(first, bool) or not 1 <= first <= n_student_steps + 1:
            raise ValueError(f"'first_error' must be null or a step number from 1 to {n_student_steps + 1}, "
                             f"got {data['first_error']!r}")
    answer = _answer(data["answer"], answer_type, choices)
    revised = _steps(data["revised_steps"], "revised_steps")
    verdicts = _verdicts(data, first, n_student_steps)
    if first is not None and not answer:
        raise ValueError("'answer' is empty")
    if first is None and answer and student_answer is not None and not task_for(answer_type).matches(
            answer, student_answer, choices):
        raise ValueError(f"'first_error' is null (every step right) but 'answer' {answer!r} is not the student's "
                         f"answer {student_answer!r}; give the first wrong step, or the student's answer")
    return TeacherResult(verdicts=verdicts, first_error=first, revised_steps=revised, answer=answer,
                         prompt_tokens=0, completion_tokens=0, raw=text)


def _verdicts(data: dict, first: int | None, n_steps: int) -> list[StepVerdict]:
    """Per student step up to the first error: a v3 reply gives one reason, for the first wrong step (the steps
    before it are right by construction); a v2 reply (cached, or from an older run) has a verdict per step."""
    if isinstance(data.get("steps"), list):
        return [StepVerdict(bool(item.get("correct")), str(item.get("reason", "")))
                for item in data["steps"] if isinstance(item, dict)]
    if first is None:
        return [StepVerdict(True, "") for _ in range(n_steps)]
    out = [StepVerdict(True, "") for _ in range(min(first - 1, n_steps))]
    if first <= n_steps:
        out.append(StepVerdict(False, str(data.get("reason") or "")))
    return out


def parse_full(text: str, answer_type: str = "number", choices: list[str] | None = None) -> TeacherResult:
    data = extract_json(text)
    if "steps" not in data or "answer" not in data:
        raise ValueError("the teacher's JSON needs 'steps' and 'answer'")
    steps = _steps(data["steps"], "steps")
    answer = _answer(data["answer"], answer_type, choices)
    if not steps or not answer:
        raise ValueError("the teacher's explanation has no steps or no answer")
    return TeacherResult(verdicts=[], first_error=1, revised_steps=steps, answer=answer, prompt_tokens=0,
                         completion_tokens=0, raw=text)
