"""What a reviewer sees and does: the filtered review queue, one sample laid out step by step (probe answers,
teacher verdicts, the step diff of the revision), and the decisions approve / edit / reject / bulk approve.
The web app's Review page calls only this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .accounts import require
from .errors import StoreError
from .reasoning import answers_match, format_explanation, short_answer, split_steps
from .store import Store

STATUSES = ("pending", "teacher_failed", "conflict", "approved", "edited", "rejected")
CLAIM_TTL_S = 15 * 60  # a sample shown to a reviewer is theirs this long, unless they decide it sooner


@dataclass
class QueueFilter:
    round: int | None = None
    statuses: tuple[str, ...] = ("pending", "teacher_failed", "conflict")
    min_uncertainty: float | None = None
    max_uncertainty: float | None = None
    matches_gold: bool | None = None  # whether the revised answer equals the gold answer
    sort_by_uncertainty: bool = True  # most uncertain first


@dataclass
class StepRow:
    text: str
    probe_before: str | None  # the probe answer before this step (â_{k-1})
    probe_after: str | None  # the probe answer after it (â_k)
    flipped: bool  # the probe answer changed at this step: where the student was unsure
    verdict: bool | None  # the teacher's verdict on the step (None when it gave none)
    reason: str = ""


@dataclass
class SampleView:
    revision: dict
    question: str
    gold: str
    uncertainty: float | None
    score_parts: dict
    student_steps: list[StepRow]
    student_answer: str | None
    diff: list[tuple[str, str | None, str | None]]  # (kept|revised|removed|added, student step, revised step)
    revised_steps: list[str]
    revised_answer: str | None
    revised_matches_gold: bool
    history: list[dict] = field(default_factory=list)


def _revised_answer(rev: dict) -> str | None:
    text = rev["final_text"] or rev["text"]
    return short_answer(split_steps(text)[1] or "") if text else None


def queue(store: Store, pid: int, flt: QueueFilter, reviewer: str | None = None) -> list[dict]:
    """The review queue: one row per revision passing the filter, with its uncertainty and answers. With a
    reviewer, samples another reviewer has claimed (and not yet decided) are left out."""
    cfg = store.config(pid)
    strategy = cfg.selection.strategy
    scores = {(s["round"], s["example_id"]): s["score"] for s in store.scores(pid, flt.round)
              if s["strategy"] in (strategy, "random")}
    revs = store.revisions(pid, flt.round, status=flt.statuses or None)
    if reviewer:  # not what others hold, nor what this reviewer already decided (overlap > 1)
        taken = store.claimed_by_others(reviewer)
        mine = {r["revision_id"] for r in store.reviews(pid=pid) if r["reviewer"] == reviewer}
        revs = [r for r in revs if r["id"] not in taken and not (r["status"] == "pending" and r["id"] in mine)]
    gold = {e.id: e.answer for e in store.examples(pid, ids=[r["example_id"] for r in revs])}
    rows = []
    for r in revs:
        u = scores.get((r["round"], r["example_id"]))
        if flt.min_uncertainty is not None and (u is None or u < flt.min_uncertainty):
            continue
        if flt.max_uncertainty is not None and (u is None or u > flt.max_uncertainty):
            continue
        answer = _revised_answer(r)
        match = answers_match(answer, gold[r["example_id"]], cfg.task.answer_type)
        if flt.matches_gold is not None and match != flt.matches_gold:
            continue
        rows.append({"id": r["id"], "round": r["round"], "example_id": r["example_id"], "status": r["status"],
                     "uncertainty": u, "first_error": r["first_error"], "revised_answer": answer,
                     "gold": gold[r["example_id"]], "matches_gold": match})
    if flt.sort_by_uncertainty:
        rows.sort(key=lambda x: (x["uncertainty"] is None, -(x["uncertainty"] or 0.0), x["id"]))
    return rows


def claim(store: Store, revision_id: int, reviewer: str) -> bool:
    """Claim the sample shown to `reviewer`, so nobody else is handed it; False if someone else has it."""
    return store.claim_revision([revision_id], reviewer, CLAIM_TTL_S) == revision_id


def claim_next(store: Store, pid: int, flt: QueueFilter, reviewer: str) -> int | None:
    """The next sample of the queue for `reviewer`, claimed; None when the queue holds nothing for them."""
    return store.claim_revision([r["id"] for r in queue(store, pid, flt, reviewer)], reviewer, CLAIM_TTL_S)


def progress(store: Store, pid: int, rnd: int | None = None) -> tuple[int, int]:
    """(decided, total) revisions of the round (or of all rounds)."""
    revs = store.revisions(pid, rnd)
    return sum(r["status"] in ("approved", "edited", "rejected") for r in revs), len(revs)


def step_diff(student: list[str], revised: list[str], first_error: int | None) -> list[tuple[str, str | None, str | None]]:
    """Steps before the first error are kept; from it on, student and revised steps are paired as revised,
    with the leftovers removed (student) or added (revised)."""
    if first_error is None:
        return [("kept", s, s) for s in student]
    j = first_error - 1
    rows = [("kept", s, s) for s in student[:j]]
    tail_old, tail_new = student[j:], revised[j:] if revised[:j] == student[:j] else revised
    for k in range(max(len(tail_old), len(tail_new))):
        old = tail_old[k] if k < len(tail_old) else None
        new = tail_new[k] if k < len(tail_new) else None
        kind = "removed" if new is None else "added" if old is None else "kept" if old == new else "revised"
        rows.append((kind, old, new))
    return rows


def sample(store: Store, revision_id: int) -> SampleView:
    rev = store.revision(revision_id)
    pid, rnd = rev["project_id"], rev["round"]
    cfg = store.config(pid)
    example = store.examples(pid, ids=[rev["example_id"]])[0]
    greedy = next((x for x in store.explanations(pid, rnd, ids=[example.id]) if x.kind == "greedy"), None)
    steps, student_answer = (greedy.steps, greedy.answer) if greedy else ([], None)
    probes = (greedy.probe_answers if greedy else None) or []
    verdicts = rev["verdicts"] or []
    rows = []
    for k, text in enumerate(steps):
        before = probes[k] if k < len(probes) else None
        after = probes[k + 1] if k + 1 < len(probes) else None
        v = verdicts[k] if k < len(verdicts) else None
        rows.append(StepRow(text, before, after, before is not None and after is not None and before != after,
                            None if v is None else bool(v["correct"]), (v or {}).get("reason", "")))
    final = rev["final_text"] or rev["text"] or ""
    revised_steps, _ = split_steps(final) if final else ([], None)
    score = next((s for s in store.scores(pid, rnd) if s["example_id"] == example.id), None)
    answer = _revised_answer(rev)
    return SampleView(rev, example.question, example.answer, score["score"] if score else None,
                      (score or {}).get("components") or {}, rows, student_answer,
                      step_diff(steps, revised_steps, rev["first_error"] if rev["mode"] == "revision" else 1),
                      revised_steps, answer, answers_match(answer, example.answer, cfg.task.answer_type),
                      store.reviews(revision_id))


def decide(store: Store, revision_id: int, action: str, reviewer: str, steps: list[str] | None = None,
           answer: str | None = None, reason: str | None = None, actor: dict | None = None) -> None:
    """approve | edit (with the reviewer's steps and answer) | reject (with a reason). `actor`: the logged-in
    user, whose role must allow reviewing (None: a workspace without accounts)."""
    require(actor, "review")
    rev = store.revision(revision_id)
    if rev["status"] == "conflict":
        require(actor, "configure")  # reviewers disagreed: an admin settles it
    overlap = store.config(rev["project_id"]).review.overlap
    if action == "edit":
        steps = [s.strip() for s in (steps or []) if s.strip()]
        if not steps or not (answer or "").strip():
            raise StoreError("An edit needs at least one step and an answer.")
        store.add_review(revision_id, "edit", reviewer, edited_text=format_explanation(steps, answer.strip()),
                         overlap=overlap)
    elif action == "reject":
        store.add_review(revision_id, "reject", reviewer, reason=(reason or "").strip() or None, overlap=overlap)
    else:
        store.add_review(revision_id, action, reviewer, overlap=overlap)


def continue_if_decided(store: Store, pid: int, rnd: int) -> int | None:
    """When nothing of a waiting round is left undecided, queue the rest of the round (training onwards);
    returns the rounds job id, or None while the queue still has undecided revisions."""
    from .worker import enqueue_rounds

    if store.phase_status(pid, rnd, "review") != "waiting":
        return None
    if store.revisions(pid, rnd, status=("pending", "teacher_failed", "conflict")):
        return None
    last = [j for j in store.jobs(pid) if j["kind"] == "rounds"]
    # go on as far as the job that stopped for review was asked to (one round, or all)
    return enqueue_rounds(store, pid, max_rounds=(last[-1]["args"] or {}).get("max_rounds") if last else None)


def bulk_approve(store: Store, revision_ids: list[int], reviewer: str, actor: dict | None = None) -> int:
    """Approve every listed revision that has usable text and is still undecided; returns how many."""
    require(actor, "review")
    n, overlap = 0, {}  # project id -> review.overlap, read once per project, not once per sample
    for rid in revision_ids:
        rev = store.revision(rid)
        if rev["status"] == "pending" and rev["text"]:
            pid = rev["project_id"]
            if pid not in overlap:
                overlap[pid] = store.config(pid).review.overlap
            try:
                store.add_review(rid, "approve", reviewer, overlap=overlap[pid])
            except StoreError:  # another reviewer holds it (claimed since the page was drawn): theirs to decide
                continue
            n += 1
    return n
