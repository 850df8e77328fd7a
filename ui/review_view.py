"""One review sample on the page: question and gold answer, the student's steps shaded where the project's
uncertainty signal says the student was unstable or the teacher found an error, and the step diff of the
revision. Model text is shown as plain text (st.text / dataframes), never as markdown or HTML, so nothing in it
can run or fetch anything."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from elad_engine.service import RevisionStatus, SampleView

# One legend, one meaning per colour (shown once above the tables).
SHADES = {"unstable": "background-color: #fff3cd", "wrong": "background-color: #f8d7da",
          "kept": "", "revised": "background-color: #cfe2ff", "removed": "background-color: #e2e3e5",
          "added": "background-color: #d1e7dd"}
LEGEND = {"unstable": "the student was unstable here", "wrong": "the teacher's first wrong step",
          "revised": "revised step", "removed": "removed step", "added": "added step"}


def _steps_frame(view: SampleView) -> pd.DataFrame:
    return pd.DataFrame([{
        "#": k + 1, "student step": s.text,
        "probe answer": f"{s.probe_before or '-'} → {s.probe_after or '-'}",
        "unstable": "yes" if s.unstable else "",
        "teacher": {True: "correct", False: "wrong", None: ""}[s.verdict], "teacher's reason": s.reason,
    } for k, s in enumerate(view.student_steps)])


def _shade_steps(row: pd.Series) -> list[str]:
    shade = SHADES["wrong"] if row["teacher"] == "wrong" else SHADES["unstable"] if row["unstable"] else ""
    return [shade] * len(row)


def _shade_diff(row: pd.Series) -> list[str]:
    return [SHADES[row["change"]]] * len(row)


def show_sample(view: SampleView) -> None:
    rev = view.revision
    st.caption(f"Round {rev['round']} · example {rev['example_id']} · {rev['mode']} by {rev['teacher']} · "
               f"status **{rev['status']}** · prompt {rev['prompt_version'] or '-'}")
    if view.simulated:
        st.info(f"Simulated teacher ({rev['teacher']}): this revision was computed from the dataset's own reference "
                "solution (or the embedded task's exact arithmetic), not written by an LLM teacher. Its tokens and "
                "cost are what an LLM would have been billed; nothing was paid.")
    st.markdown("**Question**")
    st.text(view.question)
    c1, c2, c3 = st.columns(3)
    c1.metric("Gold answer", view.gold)
    c2.metric("Student answer", view.student_answer or "-")
    c3.metric("Revised answer", view.revised_answer or "-",
              delta="matches gold" if view.revised_matches_gold else "differs from gold",
              delta_color="normal" if view.revised_matches_gold else "inverse")
    if view.uncertainty is not None:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in view.score_parts.items() if isinstance(v, (int, float)))
        st.caption(f"Uncertainty {view.uncertainty:.3f}" + (f" ({parts})" if parts else ""))
    if rev["status"] == RevisionStatus.TEACHER_FAILED:
        st.error("The teacher's reply could not be used (the reason is below). Edit the sample to keep it, "
                 "or reject it.")
        st.text(rev["error"] or "unknown reason")  # may quote model output: plain text only
        replies = rev.get("replies") or ([rev["raw"]] if rev["raw"] else [])
        if replies:
            with st.expander(f"The teacher's raw replies ({len(replies)}: the first, then each repair or retry)"):
                for n, reply in enumerate(replies, 1):
                    st.caption(f"Reply {n}")
                    st.text(reply)
    st.dataframe(pd.DataFrame([{"colour": "", "means": text} for text in LEGEND.values()]).style.apply(
        lambda col: [SHADES[k] for k in LEGEND], subset=["colour"]), hide_index=True, width="content")
    st.markdown("**The student's explanation**")
    st.caption(f"Unstable, by the project's signal ({view.signal})")
    if view.student_steps:
        st.dataframe(_steps_frame(view).style.apply(_shade_steps, axis=1), hide_index=True,
                     width="stretch")
    else:
        st.text("(no steps: a full annotation, or the student wrote none)")
    st.markdown("**Revision, step by step**")
    diff = pd.DataFrame([{"change": kind, "student": old or "", "revised": new or ""}
                         for kind, old, new in view.diff])
    if len(diff):
        st.dataframe(diff.style.apply(_shade_diff, axis=1), hide_index=True, width="stretch")
    if view.history:
        with st.expander(f"Review log ({len(view.history)})"):
            st.dataframe(pd.DataFrame([{"when": pd.to_datetime(h["created_at"], unit="s"), "who": h["reviewer"],
                                        "action": h["action"], "reason": h["reason"] or ""} for h in view.history]),
                         hide_index=True, width="stretch")
