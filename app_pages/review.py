"""Review: the round's revisions, filtered, searched and sorted by uncertainty, as a table whose picked rows are
approved or rejected together; one sample step by step with the step diff; approve (A), edit (E), reject (X: R
is Streamlit's rerun key), skip (S), next (J), previous (K), undo my last decision (U); the project's review
guidelines above the sample."""

import streamlit as st

from elad_engine.service import UNDECIDED, EladError, Permission, PhaseStatus, QueueFilter, ReviewAction, RevisionStatus
from ui.engine import can, current_project, show_error, studio
from ui.review_table import edit_guidelines, guidelines, samples_table, undo_and_help
from ui.review_view import show_sample

name, project_id = current_project()
st.title(f"Review · {name}")
rounds = studio().review.rounds(project_id)
if not rounds:
    st.info("Nothing to review yet: revisions appear here once a round has reached its review phase.")
    st.stop()

with st.expander("Filter", expanded=False):
    f1, f2, f3 = st.columns(3)
    rnd = f1.selectbox("Round", rounds, index=len(rounds) - 1, key="rv_round")
    statuses = f2.multiselect("Status", list(RevisionStatus), default=[s for s in RevisionStatus if s in UNDECIDED],
                              key="rv_status")
    gold = f3.selectbox("Revised answer vs gold", ["any", "matches", "differs"], key="rv_gold")
    u = st.slider("Uncertainty range", 0.0, 1.0, (0.0, 1.0), 0.05, key="rv_unc")
    search = st.text_input("Search the questions (all words, any case)", key="rv_search")
    failed_only = st.checkbox("Only teacher_failed", key="rv_failed")
    most_uncertain_first = st.toggle("Most uncertain first (off: in the order the teacher answered)", value=True,
                                     key="rv_sort")
flt = QueueFilter(round=rnd, statuses=(RevisionStatus.TEACHER_FAILED,) if failed_only else tuple(statuses),
                  min_uncertainty=u[0] if u[0] > 0 else None, max_uncertainty=u[1] if u[1] < 1 else None,
                  matches_gold={"any": None, "matches": True, "differs": False}[gold],
                  sort_by_uncertainty=most_uncertain_first, search=search)
reviewer = studio().user.name if can(Permission.REVIEW) else ""
rows = studio().review.queue(project_id, flt)  # without samples other reviewers hold
decided, total = studio().review.progress(project_id, rnd)
st.progress(decided / total if total else 0.0, text=f"Round {rnd}: {decided} of {total} decided · "
            f"{len(rows)} in this view")

held = [c for c in studio().review.claims(project_id, rnd) if c["reviewer"] != reviewer]
if held:  # samples another reviewer has open are left out of this view until they decide or the claim expires
    by = {}
    for c in held:
        by.setdefault(c["reviewer"], []).append(c)
    holders = "; ".join(f"{who} holds {len(cs)} (free again in {max(c['seconds_left'] for c in cs) / 60:.0f} min)"
                        for who, cs in by.items())
    st.warning(f"{len(held)} undecided sample(s) of this round are held by other reviewers and are not in this "
               f"view: {holders}")
    if can(Permission.SETTLE) and st.button("Release these claims",
                                           help="Frees samples that a closed tab still holds, so that anyone can "
                                           "decide them now."):
        st.toast(f"Released {studio().review.release_claims(project_id, rnd)} claim(s)")
        st.rerun()

if not can(Permission.REVIEW):
    st.info("Your role can read the queue but not decide samples.")
elif not reviewer:
    st.warning("Enter your name in the sidebar: it is recorded on every decision.")
guidelines(project_id)
if can(Permission.CONFIGURE):
    edit_guidelines(project_id)
undo_and_help(project_id, rnd, reviewer)

if rows:
    with st.popover(f"Approve all {len(rows)} in this view"):
        st.write(f"This approves **{sum(r['status'] == RevisionStatus.PENDING for r in rows)}** pending "
                 "revision(s) of this view as you; teacher_failed ones need an edit.")
        if st.button("Yes, approve them", disabled=not reviewer):
            n = studio().review.bulk_approve(project_id, rnd, [r["id"] for r in rows])
            st.toast(f"Approved {n} revision(s)")
            st.rerun()

if rows:
    with st.expander(f"Table of the {len(rows)} sample(s) in this view", expanded=False):
        samples_table(project_id, rnd, rows, reviewer)
if not rows:
    st.success("The queue of this view is empty.")
else:
    idx = min(st.session_state.get("rv_index", 0), len(rows) - 1)
    nav1, nav2, nav3 = st.columns([1, 1, 4])
    if nav1.button("Previous", shortcut="K", disabled=idx == 0):
        st.session_state.update(rv_index=idx - 1, rv_mode=None)
        st.rerun()
    if nav2.button("Next", shortcut="J", disabled=idx >= len(rows) - 1):
        st.session_state.update(rv_index=idx + 1, rv_mode=None)
        st.rerun()
    nav3.caption(f"Sample {idx + 1} of {len(rows)} · revision {rows[idx]['id']} · uncertainty "
                 f"{'-' if rows[idx]['uncertainty'] is None else format(rows[idx]['uncertainty'], '.3f')}")
    if reviewer:
        studio().review.claim(rows[idx]["id"])  # nobody else is handed this one meanwhile
    view = studio().review.sample(rows[idx]["id"])
    show_sample(view)
    if view.revision["status"] == RevisionStatus.TEACHER_FAILED and st.button(
            "Ask the teacher again", disabled=not reviewer, help="A worker job sends this sample to the teacher once "
            "more (within the budget); the sample comes back pending or teacher_failed, with every reply kept."):
        studio().review.ask_again(view.revision["id"])
        st.toast("Queued: the teacher is asked again; this sample updates when the reply is in.")

    def act(action: str, **kw) -> None:
        try:
            studio().review.decide(view.revision["id"], action, **kw)
        except EladError as e:  # something the reviewer can fix, e.g. an edit without an answer
            show_error(str(e))
            return
        st.session_state["rv_mode"] = None
        done = {ReviewAction.APPROVE: "Approved", ReviewAction.EDIT: "Saved your edit of",
                ReviewAction.REJECT: "Rejected"}[action]
        st.toast(f"{done} "
                 f"revision {view.revision['id']}")
        st.rerun()

    a1, a2, a3, a4 = st.columns(4)
    if a1.button("Approve", shortcut="A", type="primary", disabled=not reviewer or not view.revision["text"]):
        act(ReviewAction.APPROVE)
    if a4.button("Skip", shortcut="S"):
        st.session_state.update(rv_index=(idx + 1) % len(rows), rv_mode=None)
        st.rerun()
    if a2.button("Edit", shortcut="E"):
        st.session_state["rv_mode"] = ReviewAction.EDIT
    if a3.button("Reject", shortcut="X"):
        st.session_state["rv_mode"] = ReviewAction.REJECT
    if st.session_state.get("rv_mode") == ReviewAction.EDIT:
        with st.form("edit"):
            steps = st.text_area("Steps, one per line", "\n".join(view.revised_steps), height=160)
            answer = st.text_input("Answer", view.revised_answer or view.gold)
            if st.form_submit_button("Save my version", disabled=not reviewer):
                act(ReviewAction.EDIT, steps=steps.splitlines(), answer=answer)
    if st.session_state.get("rv_mode") == ReviewAction.REJECT:
        with st.form("reject"):
            reason = st.text_input("Reason (kept in the review log)")
            if st.form_submit_button("Reject this sample", disabled=not reviewer):
                act(ReviewAction.REJECT, reason=reason)

if studio().review.phase(project_id, rnd) == PhaseStatus.WAITING:
    st.divider()
    st.write(f"Round {rnd} waits for review; it goes on by itself (training, evaluation) once every revision "
             "is decided. To train now on what is approved so far:")
    if st.button("Close the review and train on what is approved", disabled=not can(Permission.RUN)):
        studio().rounds.close_review(project_id, rnd)
        st.rerun()
