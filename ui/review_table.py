"""Parts of the Review page: the table of the round's samples in the current view (question, status, uncertainty,
answer vs gold, who decided), searchable, with rows picked for a bulk approve or a bulk reject with one reason;
undo of one's last decision; the keyboard-shortcut help; the project's review guidelines, rendered without images
or HTML."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from elad_engine.service import EladError
from ui.engine import show_error, studio

SHORTCUTS = {"A": "approve the sample", "E": "edit it in your own words", "X": "reject it (with a reason)",
             "S": "skip to the next one", "J": "next sample", "K": "previous sample",
             "U": "undo your last decision in this round"}


def safe_markdown(text: str) -> str:
    """Guidelines as markdown with every image turned into a link (so nothing is fetched when the page is drawn);
    Streamlit renders no HTML here (unsafe_allow_html stays off)."""
    return re.sub(r"!\[", "[", text or "")


def guidelines(project_id: int) -> None:
    text = studio().review.guidelines(project_id)
    if text:
        with st.expander("Review guidelines", expanded=True):
            st.markdown(safe_markdown(text))


def edit_guidelines(project_id: int) -> None:
    """For admins: the project's guidelines, written in markdown and shown to every reviewer above the sample."""
    with st.expander("Edit the review guidelines (admins)"):
        with st.form("guidelines"):
            text = st.text_area("Guidelines (markdown; images are shown as links)",
                                studio().review.guidelines(project_id), height=160)
            if st.form_submit_button("Save the guidelines"):
                try:
                    studio().review.set_guidelines(project_id, text)
                    st.rerun()
                except EladError as e:
                    show_error(str(e))


def shortcut_help() -> None:
    with st.popover("Keyboard shortcuts"):
        st.table(pd.DataFrame([{"key": k, "does": v} for k, v in SHORTCUTS.items()]).set_index("key"))
        st.caption("Click on the page (not in a text box) first; R is Streamlit's own rerun key.")


def undo_and_help(project_id: int, rnd: int, reviewer: str) -> None:
    """"Undo my last decision" (U) when there is one to undo, and the keyboard-shortcut help beside it."""
    last = studio().review.last_decision(project_id, rnd) if reviewer else None
    u1, u2 = st.columns([3, 1])
    with u2:
        shortcut_help()
    if last is not None and u1.button(f"Undo my last decision ({last['action']} of revision {last['revision_id']})",
                                      shortcut="U", help="The sample is undecided again; the review log keeps both "
                                      "the decision and its undo."):
        try:
            rid = studio().review.undo_last(project_id, rnd)
            st.toast(f"Undone: revision {rid} is undecided again")
            st.rerun()
        except EladError as e:
            show_error(str(e))


def samples_table(project_id: int, rnd: int, rows: list[dict], reviewer: str) -> None:
    """The view's samples as a table; pick rows (the boxes at the left) to approve or reject them together."""
    table = pd.DataFrame([{"revision": r["id"], "question": r["question"], "status": r["status"],
                           "uncertainty": r["uncertainty"], "revised answer": r["revised_answer"] or "",
                           "gold": r["gold"], "matches gold": r["matches_gold"], "decided by": r["reviewer"]}
                          for r in rows])
    event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                         key=f"rv_table-{rnd}", column_config={
                             "uncertainty": st.column_config.NumberColumn(format="%.3f"),
                             "question": st.column_config.TextColumn(width="large")})
    picked = [rows[i]["id"] for i in event.selection.rows if i < len(rows)]
    if not picked:
        st.caption("Tick rows at the left of the table to approve or reject several samples at once.")
        return
    b1, b2 = st.columns(2)
    if b1.button(f"Approve the {len(picked)} picked", disabled=not reviewer):
        n = studio().review.bulk_approve(project_id, rnd, picked)
        st.toast(f"Approved {n} of {len(picked)} (pending ones with usable text)")
        st.rerun()
    with b2.popover(f"Reject the {len(picked)} picked"):
        reason = st.text_input("Reason (kept in the review log of each)", key="rv_bulk_reason")
        if st.button("Reject them", disabled=not reviewer or not reason.strip()):
            try:
                n = studio().review.bulk_reject(project_id, rnd, picked, reason)
                st.toast(f"Rejected {n} of {len(picked)}")
                st.rerun()
            except EladError as e:
                show_error(str(e))
