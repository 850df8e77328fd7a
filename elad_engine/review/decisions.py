"""Review decisions: approve, edit (in the reviewer's own words) or reject one revision, or bulk-approve or
bulk-reject a selection; undo of one's own last decision (an appended row);
overlap voting (k different reviewers per sample; disagreement becomes a conflict an admin settles); and what a
round waiting for review does once everything is decided. Who may decide is the service layer's check."""

from __future__ import annotations

from ..errors import StoreError
from ..method.reasoning import format_explanation
from ..states import UNDECIDED, JobKind, Phase, PhaseStatus, ReviewAction, RevisionStatus
from ..store import Store
from ..store.revisions import UNDO, ReviewRow

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
    return bulk_decide(store, revision_ids, reviewer, ReviewAction.APPROVE)


def bulk_decide(store: Store, revision_ids: list[int], reviewer: str, action: ReviewAction,
                reason: str | None = None) -> int:
    """Approve, or reject with a reason, every listed revision that is still pending (approve: with usable text;
    reject: teacher_failed ones too); returns how many. One another reviewer holds is left to them."""
    if action not in (ReviewAction.APPROVE, ReviewAction.REJECT):
        raise StoreError(f"a bulk decision is approve or reject, not {action!r}")
    reason = (reason or "").strip() or None
    if action == ReviewAction.REJECT and not reason:
        raise StoreError("A bulk reject needs a reason: it is kept in the review log of every sample.")
    open_statuses = (RevisionStatus.PENDING,) if action == ReviewAction.APPROVE else tuple(UNDECIDED - {
        RevisionStatus.CONFLICT})
    n, overlap = 0, {}  # project id -> review.overlap, read once per project, not once per sample
    for rid in revision_ids:
        rev = store.revisions.get(rid)
        if rev["status"] not in open_statuses or (action == ReviewAction.APPROVE and not rev["text"]):
            continue
        project_id = rev["project_id"]
        if project_id not in overlap:
            overlap[project_id] = store.projects.config(project_id).review.overlap
        try:
            record(store, rid, action, reviewer, reason=reason, overlap=overlap[project_id])
        except StoreError:  # another reviewer holds it (claimed since the page was drawn): theirs to decide
            continue
        n += 1
    return n


def undo_last(store: Store, project_id: int, rnd: int, reviewer: str) -> int:
    """Withdraw `reviewer`'s latest decision in round `rnd`: an undo row is appended to the review log (nothing is
    updated or deleted) and the sample is undecided again (a conflict again when the decision settled one).
    Refused once the round's review is over (training used the decisions) or when someone decided the sample
    after them. Returns the revision id."""
    with store.transaction():
        phase = store.phases.status(project_id, rnd, Phase.REVIEW)
        if phase in (PhaseStatus.DONE, PhaseStatus.CLOSED):
            raise StoreError(f"Round {rnd}'s review is over (training has used its decisions): nothing can be "
                             "undone there.")
        last = store.reviews.last_by(project_id, rnd, reviewer)
        if last is None:
            raise StoreError(f"{reviewer} has no decision in round {rnd} to undo.")
        rid = last["revision_id"]
        effective = store.reviews.list(rid)
        if effective[-1]["id"] != last["id"]:
            raise StoreError(f"Revision {rid} was decided again by {effective[-1]['reviewer']} after you: ask them, "
                             "or an admin, to change it.")
        rev = store.revisions.get(rid)
        votes = [r for r in effective[:-1] if not r["reviewer"].startswith(POLICY_PREFIX)]
        overlap = store.projects.config(project_id).review.overlap
        if overlap > 1 and len(votes) >= overlap:
            status = RevisionStatus.CONFLICT  # it settled a conflict: the conflict is back
        else:
            status = RevisionStatus.PENDING if rev["text"] else RevisionStatus.TEACHER_FAILED
        store.reviews.append(rid, UNDO, reviewer, None, f"undoes {last['action']} (review {last['id']})", status,
                             None, undoes=last["id"])
        return rid


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
