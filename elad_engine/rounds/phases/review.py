"""Review: the round's pending revisions decided by the project's policy (auto-approve, approve when the revised
answer matches the gold one), or, under the human policy, a wait until reviewers have decided them all (or an admin
closed the review)."""

from __future__ import annotations

from ...method.reasoning import short_answer, split_steps
from ...review.decisions import POLICY_PREFIX, record
from ...states import UNDECIDED, Phase, PhaseStatus, ReviewAction, RevisionStatus
from ..context import RoundContext
from .result import PhaseResult


def run(ctx: RoundContext, rnd: int) -> PhaseResult:
    store, project_id, policy = ctx.store, ctx.project_id, ctx.cfg.review.policy
    if policy == "human":
        waiting = store.revisions.count(project_id, rnd, UNDECIDED)
        if waiting and store.phases.status(project_id, rnd, Phase.REVIEW) != PhaseStatus.CLOSED:
            return PhaseResult.waiting(f"{waiting} revision(s) wait for reviewers")
        return PhaseResult.done("decided by reviewers")
    pending = store.revisions.list(project_id, rnd, status=RevisionStatus.PENDING)
    reviewer = f"{POLICY_PREFIX}{policy}"
    examples = {e.id: e for e in store.examples.list(project_id, ids=[r["example_id"] for r in pending])}
    for rev in pending:
        if policy == "auto-approve":
            record(store, rev["id"], ReviewAction.APPROVE, reviewer)
            continue
        answer = short_answer(split_steps(rev["text"] or "")[1] or "")  # the answer the student would learn
        example = examples[rev["example_id"]]
        if not example.answer:
            record(store, rev["id"], ReviewAction.REJECT, reviewer, reason="no gold answer to check it against")
        elif ctx.task.is_correct(answer, example):
            record(store, rev["id"], ReviewAction.APPROVE, reviewer)
        else:
            record(store, rev["id"], ReviewAction.REJECT, reviewer,
                   reason=f"revised answer {answer!r} differs from the gold answer {example.answer!r}")
    return PhaseResult.done(f"{len(pending)} decided by {policy}")
