"""Try a round's student on one question typed by a person (the Export page's "Try the student", run as a worker
job): the student after that round's training, in the project's prompt style, greedy, with its steps and answer."""

from __future__ import annotations

from ..errors import EladError
from ..method.reasoning import short_answer, split_steps
from ..method.records import Example
from ..store import Store
from .context import RoundContext

MAX_QUESTION = 4000


def check_question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise EladError("Type a question for the student to answer.")
    if len(question) > MAX_QUESTION:
        raise EladError(f"The question is {len(question):,} characters; keep it under {MAX_QUESTION:,}.")
    return question


def answer_question(store: Store, project_id: int, rnd: int, question: str) -> dict:
    """{round, question, steps, answer, text}: what the student of round `rnd` (after its training) writes."""
    question = check_question(question)
    if store.training_runs.get(project_id, rnd) is None:
        raise EladError(f"Round {rnd} has no trained student yet: pick a round whose training has finished.")
    ctx = RoundContext(store, project_id)
    student = ctx.student_for(rnd, after_training=True)
    style = ctx.style(student.tokenizer)
    example = Example(id="try", question=question, answer="", split="test")
    (text,), = student.generate(style.prompts(student.tokenizer, [ctx.task.student_text(example)]),
                                max_new_tokens=ctx.cfg.student.max_new_tokens)
    steps, answer = split_steps(text)
    return {"round": rnd, "question": question, "steps": steps, "answer": short_answer(answer) if answer else None,
            "text": text}
