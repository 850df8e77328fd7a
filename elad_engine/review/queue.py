"""The review queue: revisions of a round filtered by status, uncertainty and whether the revised answer matches
the gold one, most uncertain first; claims, so that two reviewers are never handed the same sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from ..method.reasoning import short_answer, split_steps
from ..states import DECIDED, UNDECIDED, RevisionStatus
from ..store import Store
from ..store.revisions import RevisionRow
from ..tasks.registry import task_for

CLAIM_TTL_S = 15 * 60  # a sample shown to a reviewer is theirs this long, unless they decide it sooner


@dataclass
class QueueFilter:
    round: int | None = None
    statuses: tuple[str, ...] = tuple(sorted(UNDECIDED))
    min_uncertainty: float | None = None
    max_uncertainty: float | None = None
    matches_gold: bool | None = None  # whether the revised answer equals the gold answer
    sort_by_uncertainty: bool = True  # most uncertain first
    search: str = ""  # words that must all be in the question (or the example id), any case


class QueueRow(TypedDict):
    id: int
    round: int
    example_id: str
    status: RevisionStatus
    uncertainty: float | None
    first_error: int | None
    revised_answer: str | None
    gold: str
    matches_gold: bool
    question: str
    reviewer: str  # who made the revision's latest decision ("" while undecided by anyone)


def revised_answer(rev: RevisionRow) -> str | None:
    """The answer the student would learn from this revision (a reviewer's edit included)."""
    text = rev["final_text"] or rev["text"]
    return short_answer(split_steps(text)[1] or "") if text else None


def queue(store: Store, project_id: int, flt: QueueFilter, reviewer: str | None = None) -> list[QueueRow]:
    """The review queue: one row per revision passing the filter, with its uncertainty and answers. With a
    reviewer, samples another reviewer has claimed (and not yet decided) are left out."""
    cfg = store.projects.config(project_id)
    strategy = cfg.selection.strategy
    scores = store.scores.of_revisions(project_id, flt.round, (strategy, "random"))  # the revised samples' only
    revs = store.revisions.list(project_id, flt.round, status=flt.statuses or None)
    reviews = store.reviews.of_project(project_id, flt.round)  # once: who decided each row, what this reviewer did
    if reviewer:  # not what others hold, nor what this reviewer already decided (overlap > 1)
        taken = store.claims.held_by_others(reviewer)
        mine = {r["revision_id"] for r in reviews if r["reviewer"] == reviewer}
        revs = [r for r in revs if r["id"] not in taken
                and not (r["status"] == RevisionStatus.PENDING and r["id"] in mine)]
    examples = {e.id: e for e in store.examples.list(project_id, ids=[r["example_id"] for r in revs])}
    words = flt.search.lower().split()
    if words:
        revs = [r for r in revs if all(w in f"{examples[r['example_id']].question} {r['example_id']}".lower()
                                       for w in words)]
    deciders = {r["revision_id"]: r["reviewer"] for r in reviews}  # in log order: the latest decision wins
    task = task_for(cfg.task)
    rows = []
    for r in revs:
        u = scores.get((r["round"], r["example_id"]))
        if flt.min_uncertainty is not None and (u is None or u < flt.min_uncertainty):
            continue
        if flt.max_uncertainty is not None and (u is None or u > flt.max_uncertainty):
            continue
        answer = revised_answer(r)
        example = examples[r["example_id"]]
        match = task.is_correct(answer, example)
        if flt.matches_gold is not None and match != flt.matches_gold:
            continue
        rows.append({"id": r["id"], "round": r["round"], "example_id": r["example_id"], "status": r["status"],
                     "uncertainty": u, "first_error": r["first_error"], "revised_answer": answer,
                     "gold": example.answer, "matches_gold": match, "question": example.question,
                     "reviewer": deciders.get(r["id"], "")})
    if flt.sort_by_uncertainty:
        rows.sort(key=lambda x: (x["uncertainty"] is None, -(x["uncertainty"] or 0.0), x["id"]))
    return rows


def claim(store: Store, revision_id: int, reviewer: str) -> bool:
    """Claim the sample shown to `reviewer`, so nobody else is handed it; False if someone else has it."""
    return store.claims.claim([revision_id], reviewer, CLAIM_TTL_S) == revision_id


def claim_next(store: Store, project_id: int, flt: QueueFilter, reviewer: str) -> int | None:
    """The next sample of the queue for `reviewer`, claimed; None when the queue holds nothing for them."""
    return store.claims.claim([r["id"] for r in queue(store, project_id, flt, reviewer)], reviewer, CLAIM_TTL_S)


def progress(store: Store, project_id: int, rnd: int | None = None) -> tuple[int, int]:
    """(decided, total) revisions of the round (or of all rounds)."""
    return store.revisions.count(project_id, rnd, DECIDED), store.revisions.count(project_id, rnd)
