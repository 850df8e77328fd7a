"""Review decisions: approve, edit (in the reviewer's own words) or reject one revision, or bulk-approve a view;
overlap voting (k different reviewers per sample; disagreement becomes a conflict an admin settles); and what a
round waiting for review does once everything is decided. Who may decide is the service layer's check."""

from __future__ import annotations

from ..errors import StoreError
from ..method.reasoning import format_explanation
from ..states import UNDECIDED, JobKind, Phase, PhaseStatus, ReviewAction, RevisionStatus
from ..store import Store
from ..store.revisions import ReviewRow

POLICY_PREFIX = "policy:"  # reviewer names of automatic review policies (auto-approve, ...): never a vote


def tally(status: RevisionStatus, final_text: str | None, earlier: list[ReviewRow], action: ReviewAction,
          edited_text: str | None, overlap: int, decided_text: str | None) -> tuple[RevisionStatus, str | None]:
    """The revision's (status, final text) after this decision.

    With overlap k > 1 an undecided revision stays as it is until k different reviewers have decided; if they agree
    (same action, same edited text) it becomes that decision, else a conflict. A decision on a conflict (an
    admin's) settles it, as does any decision when k = 1."""
    if overlap > 1 and status in (RevisionStatus.PENDING, RevisionStatus.TEACHER_FAILED):
        votes = [(r["action"], r["edited_text"]) for r in earlier] + [(action, edited_text)]
        if len(votes) < overlap:
            return status, final_text
        if len(set(votes)) > 1:
            return RevisionStatus.CONFLICT, None
    return action.status, decided_text


def record(store: Store, revision_id: int, action: str, reviewer: str, edited_text: str | None = None,
           reason: str | None = None, overlap: int = 1) -> RevisionStatus:
    """Append a review decision and set the revision's status, atomically; returns the new status."""
    try:
        action = ReviewAction(action)
    except ValueError:
        raise StoreError(f"Unknown review action {action!r}: use approve, edit or reject.") from None
    if not reviewer:
        raise StoreError("A review needs the reviewer's name.")
    if action == ReviewAction.EDIT and not (edited_text or "").strip():
        raise StoreError("An edit needs the edited explanation text.")
    with store.transaction():  # read, check and write under the write lock: concurrent reviewers queue here
        rev = store.revisions.get(revision_id)
        if action == ReviewAction.APPROVE and not rev["text"]:
            raise StoreError(f"Revision {revision_id} has no usable text (teacher_failed): edit it instead.")
        holder = store.claims.holder(revision_id)
        if holder and holder != reviewer:
            raise StoreError(f"Revision {revision_id} is being reviewed by {holder}; take another one.")
        earlier = [r for r in store.reviews.list(revision_id) if not r["reviewer"].startswith(POLICY_PREFIX)]
        voting = rev["status"] in (RevisionStatus.PENDING, RevisionStatus.TEACHER_FAILED)
        if overlap > 1 and voting and any(r["reviewer"] == reviewer for r in earlier):
            raise StoreError(f"{reviewer} has already reviewed revision {revision_id}; it needs "
                             f"{overlap} different reviewers.")
        decided = {ReviewAction.EDIT: edited_text, ReviewAction.APPROVE: rev["text"]}.get(action)
        status, final = tally(rev["status"], rev["final_text"], earlier, action, edited_text, overlap, decided)
        store.reviews.append(revision_id, action, reviewer, edited_text, reason, status, final)
        return status


def decide(store: Store, revision_id: int, action: str, reviewer: str, steps: list[str] | None = None,
           answer: str | None = None, reason: str | None = None) -> RevisionStatus:
    """approve | edit (with the reviewer's steps and answer) | reject (with a reason), under the project's overlap."""
    rev = store.revisions.get(revision_id)
    overlap = store.projects.config(rev["project_id"]).review.overlap
    if action == ReviewAction.EDIT:
        steps = [s.strip() for s in (steps or []) if s.strip()]
        if not steps or not (answer or "").strip():
            raise StoreError("An edit needs at least one step and an answer.")
        return record(store, revision_id, action, reviewer, edited_text=format_explanation(steps, answer.strip()),
                      overlap=overlap)
    if action == ReviewAction.REJECT:
        return record(store, revision_id, action, reviewer, reason=(reason or "").strip() or None, overlap=overlap)
    return record(store, revision_id, action, reviewer, overlap=overlap)


def bulk_approve(store: Store, revision_ids: list[int], reviewer: str) -> int:
    """Approve every listed revision that has usable text and is still pending; returns how many."""
    n, overlap = 0, {}  # project id -> review.overlap, read once per project, not once per sample
    for rid in revision_ids:
        rev = store.revisions.get(rid)
        if rev["status"] != RevisionStatus.PENDING or not rev["text"]:
            continue
        project_id = rev["project_id"]
        if project_id not in overlap:
            overlap[project_id] = store.projects.config(project_id).review.overlap
        try:
            record(store, rid, ReviewAction.APPROVE, reviewer, overlap=overlap[project_id])
        except StoreError:  # another reviewer holds it (claimed since the page was drawn): theirs to decide
            continue
        n += 1
    return n


def close_review(store: Store, project_id: int, rnd: int) -> None:
    """Admin override: train on what is approved so far; pending revisions of the round stay pending."""
    store.phases.set(project_id, rnd, Phase.REVIEW, PhaseStatus.CLOSED)


def continue_if_decided(store: Store, project_id: int, rnd: int) -> int | None:
    """When nothing of a waiting round is left undecided, queue the rest of the round (training onwards);
    returns the rounds job id, or None while the queue still has undecided revisions."""
    from ..jobs.queue import enqueue_rounds

    if store.phases.status(project_id, rnd, Phase.REVIEW) != PhaseStatus.WAITING:
        return None
    if store.revisions.count(project_id, rnd, UNDECIDED):
        return None
    last = store.jobs.list(project_id, JobKind.ROUNDS)
    # go on as far as the job that stopped for review was asked to (one round, or all)
    return enqueue_rounds(store, project_id, max_rounds=(last[-1]["args"] or {}).get("max_rounds") if last else None)
