"""Revise: the selected samples go to the teacher (round 0: full annotation; later rounds: revision of the student's
greedy explanation, or full annotation when configured), within the budget, each reply saved as it arrives."""

from __future__ import annotations

from ...errors import BudgetExceeded, EladError
from ...method.cost import Budget
from ...method.reasoning import short_answer, split_steps
from ...method.revision import assembled_text
from ...states import ExplanationKind, RevisionStatus, SelectionStatus, TeacherOutcome
from ...teachers.dispatch import Ledger, run_requests
from ...teachers.prompts import PROMPT_VERSION
from ...teachers.protocol import build_request
from ..context import RoundContext
from .explain import explain_ids
from .result import PhaseResult


def ask_again(ctx: RoundContext, revision_id: int) -> str:
    """One teacher_failed revision sent to the teacher again (the request cache is bypassed: the same request
    would bring back the same reply), within the budget; the revision is updated in place, history kept."""
    store, t = ctx.store, ctx.cfg.teacher
    rev = store.revisions.get(revision_id)
    if rev["status"] != RevisionStatus.TEACHER_FAILED:
        raise EladError(f"revision {revision_id} is {rev['status']}, not teacher_failed: nothing to ask again")
    example = store.examples.get(rev["project_id"], rev["example_id"])
    student = next(iter(store.explanations.list(rev["project_id"], rev["round"], ids=[example.id],
                                                kind=ExplanationKind.GREEDY)), None)
    steps = student.steps if student and rev["mode"] == "revision" else []
    request = build_request(example, rev["mode"], steps, student.answer if student else None, t.show_gold,
                            ctx.cfg.task.answer_type, attempt=len(rev["replies"] or []) + 1)
    ctx.check_teacher()
    ledger = Ledger(store, rev["project_id"], rev["round"], Budget(ctx.cfg.rounds.budget_tokens,
                                                                   ctx.cfg.rounds.budget_dollars),
                    t.price(), ctx.teacher.model, ctx.check_cancel, ctx.teacher.simulated)
    outcome = []

    def on_result(req, result) -> None:
        answer = short_answer(split_steps(student.text)[1] or "") if student else None
        outcome.append(store.revisions.replace_reply(revision_id, result, assembled_text(req.steps, result, answer)))

    run_requests(ctx.teacher, [request], ledger, t.max_tokens, on_result)
    return f"revision {revision_id} asked again: {outcome[0] if outcome else 'no reply'}"


def run(ctx: RoundContext, rnd: int) -> PhaseResult:
    store, project_id, t = ctx.store, ctx.project_id, ctx.cfg.teacher
    mode = "full" if rnd == 0 else t.annotation
    selected = [r["example_id"] for r in store.selections.list(project_id, rnd)]
    done = store.revisions.example_ids(project_id, rnd)
    todo = [i for i in selected if i not in done]
    if mode == "revision":
        missing = set(todo) - store.explanations.explained_ids(project_id, rnd)
        if missing:  # strategies that need no pool explanations still revise the student's own steps
            explain_ids(ctx, rnd, [i for i in todo if i in missing])
    greedy = {x.example_id: x for x in store.explanations.list(project_id, rnd, ids=todo, kind=ExplanationKind.GREEDY)}
    requests = []
    for example in store.examples.list(project_id, ids=todo):
        student = greedy.get(example.id)
        requests.append(build_request(example, mode, student.steps if student else [],
                                      student.answer if student else None, t.show_gold, ctx.cfg.task.answer_type))
    finished = [len(done)]
    ctx.progress("revise", finished[0], len(selected))

    def on_result(request, result) -> None:
        student = greedy.get(request.example.id)
        student_answer = short_answer(split_steps(student.text)[1] or "") if student else None
        text = assembled_text(request.steps, result, student_answer)
        if text is None and result.status != TeacherOutcome.FAILED:
            result.status, result.error = TeacherOutcome.FAILED, "no explanation could be assembled from the reply"
        store.revisions.save(project_id, rnd, request.example.id, mode, ctx.teacher.name, result, text,
                             student.text if student else None, result.cost_usd, PROMPT_VERSION)
        finished[0] += 1
        ctx.progress("revise", finished[0], len(selected))

    if requests:
        ctx.check_teacher()
    ledger = Ledger(store, project_id, rnd, Budget(ctx.cfg.rounds.budget_tokens, ctx.cfg.rounds.budget_dollars),
                    t.price(), ctx.teacher.model, ctx.check_cancel, ctx.teacher.simulated)
    try:
        run_requests(ctx.teacher, requests, ledger, t.max_tokens, on_result)
    except BudgetExceeded as e:
        saved = store.revisions.example_ids(project_id, rnd)
        rest = [i for i in todo if i not in saved]
        store.selections.set_status(project_id, rnd, rest, SelectionStatus.OVER_BUDGET)
        ctx.log(f"{e} {len(rest)} selected sample(s) left unrevised.")
    return PhaseResult.done(f"{store.revisions.count(project_id, rnd)} of {len(selected)} revised ({mode})")
