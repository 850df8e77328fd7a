"""The Export page's "Try the student": a question typed here is answered by a chosen round's student in a worker
job (never in the page); the answer is shown with its steps, as plain text (model output is never markdown)."""

from __future__ import annotations

import streamlit as st

from elad_engine.service import ACTIVE_JOB, EladError, JobStatus, Permission
from ui.engine import can, show_error, studio


def try_student(project_id: int, trained: list[int], best: int | None) -> None:
    st.subheader("Try the student")
    with st.form("try-student"):
        question = st.text_area("A question for the student", height=90,
                                placeholder="e.g. Tom has 4 apples. He buys 6 more. How many apples does he have?")
        rnd = st.selectbox("The student after round", trained,
                           index=trained.index(best) if best in trained else len(trained) - 1)
        if st.form_submit_button("Ask the student", disabled=not can(Permission.REVIEW),
                                 help=None if can(Permission.REVIEW) else "Trying the student needs the review "
                                 "permission (admins and reviewers)."):
            try:
                studio().exports.try_student(project_id, rnd, question)
                st.rerun()
            except EladError as e:
                show_error(str(e))
    job = studio().exports.tried(project_id)
    drawn = None if job is None else (job["id"], job["status"])

    @st.fragment(run_every=1.0 if job is not None and job["status"] in ACTIVE_JOB else None)
    def answer() -> None:
        now = studio().exports.tried(project_id)
        if (None if now is None else (now["id"], now["status"])) != drawn:
            st.rerun()
        if now is None:
            return
        if now["status"] in ACTIVE_JOB:
            st.info(f"The student of round {now['args']['round']} is thinking (job {now['id']}: {now['status']}); a "
                    "round or an export the worker is running goes first.")
        elif now["status"] == JobStatus.FAILED:
            show_error(now["error"] or "", "The student could not answer; the reason is below.")
        elif now["status"] == JobStatus.DONE and now["result"]:
            r = now["result"]
            st.caption(f"Round {r['round']}'s student, asked: {r['question']}")
            st.text("\n".join(f"{i}. {step}" for i, step in enumerate(r["steps"], 1)) or "(no steps)")
            st.text(f"The answer is {r['answer']}." if r["answer"] else "(no answer line: the student did not "
                    "finish in the format)")

    answer()
