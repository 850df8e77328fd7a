"""Metrics: accuracy per round and against cumulative teacher cost, several projects overlaid, with the starting
student as a dashed line; the per-round table; training runs and loss curves; selection-score histograms;
reviewer statistics and where the teacher's first error falls."""

import altair as alt
import pandas as pd
import streamlit as st

from elad_engine.service import EladError
from ui.engine import current_project, show_error, studio

READABLE = {"multi_step": "multi-step accuracy", "prompt_tokens": "prompt tokens",
            "completion_tokens": "completion tokens", "total_tokens": "all tokens", "cost_usd": "cost ($)",
            "teacher_failed": "teacher failed", "format_ok": "format followed (test)",
            "pool_format_ok": "format followed (pool)"}
name, project_id = current_project()
st.title("Metrics")
with st.expander("Compare strategies from the efficiency benchmark (python -m benchmarks.efficiency)"):
    path = st.text_input("efficiency.csv on the server", "benchmarks/results/efficiency/efficiency.csv")
    try:
        found = studio().metrics.benchmark_curves(path)
        curves = None if found is None else pd.DataFrame(found)
    except EladError as e:
        curves = pd.DataFrame()
        show_error(str(e), "This file cannot be shown; the reason is below.")
    if curves is None:
        st.caption("No such file yet: `python -m benchmarks.efficiency` writes it there.")
    elif len(curves):
        base = alt.Chart(curves).encode(
            x=alt.X("completion_tokens:Q", title="cumulative teacher completion tokens (mean over seeds)"),
            color="series:N")
        band = base.mark_area(opacity=0.15).encode(y=alt.Y("low:Q", scale=alt.Scale(zero=False)), y2="high:Q")
        line = base.mark_line(point=True).encode(
            y=alt.Y("accuracy:Q", scale=alt.Scale(zero=False), title="test accuracy (mean; band: 95% CI over seeds)"),
            tooltip=["series", "round", "seeds", "accuracy", "low", "high", "completion_tokens"])
        st.altair_chart(band + line, width="stretch")

all_names = studio().projects.names()
chosen = st.multiselect("Projects to compare", all_names, default=[name])
frame = pd.DataFrame(studio().metrics.frame([studio().projects.id_of(n) for n in chosen]))
if frame.empty:
    st.info("No evaluated round yet: metrics appear after a round's evaluate phase.")
    st.stop()

x_axis = st.radio("Accuracy against", ["round", "completion tokens", "prompt + completion tokens", "dollars"],
                  horizontal=True)
x_field = {"round": "round", "completion tokens": "completion_tokens",
           "prompt + completion tokens": "total_tokens", "dollars": "cost_usd"}[x_axis]
base = alt.Chart(frame).encode(
    x=alt.X(f"{x_field}:Q", title=x_axis, axis=alt.Axis(format={"round": "d", "cost_usd": "$.4f"}.get(x_field, ",d"))),
    color=alt.Color("project:N"),
    tooltip=["project", "round", "accuracy", "multi_step", "completion_tokens", "cost_usd"])
charts = [("accuracy", "test accuracy", "Accuracy"), ("multi_step", "multi-step accuracy", "Multi-step accuracy"),
          ("format_ok", "explanations in the format", "Format followed (test split)")]
starting = pd.DataFrame(studio().metrics.baselines([studio().projects.id_of(n) for n in chosen]))
for column, (field, axis_title, title) in zip(st.columns(3), charts):
    y = alt.Y(f"{field}:Q", scale=alt.Scale(zero=False), title=axis_title, axis=alt.Axis(format=".0%"))
    chart = base.mark_line(point=True).encode(y=y).properties(title=title)
    if field == "accuracy" and not starting.empty:  # the student before any training: what the rounds added to
        chart += alt.Chart(starting).mark_rule(strokeDash=[4, 4]).encode(
            y="base_accuracy:Q", color=alt.Color("project:N"), tooltip=["project", "base_accuracy"])
    column.altair_chart(chart, width="stretch")
if not starting.empty:
    st.caption("Dashed: the starting student's test accuracy, before the warm-up trained it.")
st.subheader("Per round")
st.dataframe(frame.rename(columns=READABLE), hide_index=True, width="stretch")

st.subheader(f"Training · {name}")
training = pd.DataFrame(studio().metrics.training(project_id))
if training.empty:
    st.caption("No round has trained yet.")
else:
    t1, t2 = st.columns([1, 2])
    t1.dataframe(training, hide_index=True, width="stretch")
    losses = pd.DataFrame(studio().metrics.losses(project_id))
    if not losses.empty:
        t2.altair_chart(alt.Chart(losses).mark_line().encode(
            x=alt.X("step:Q", title="optimiser step"), y=alt.Y("loss:Q", title="training loss"),
            color=alt.Color("round:N"), tooltip=["round", "step", "loss"]).properties(
            title="Training loss by round", height=260), width="stretch")

st.subheader(f"Selection scores · {name}")
scores = pd.DataFrame(studio().metrics.score_histogram(project_id))  # bars counted in SQL, not every sample
if scores.empty:
    st.caption("No scores yet.")
else:
    st.altair_chart(alt.Chart(scores).mark_bar(opacity=0.7).encode(
        x=alt.X("start:Q", title="uncertainty score"), x2="end:Q", y=alt.Y("samples:Q", title="samples",
                                                                            stack=True),
        color=alt.Color("selected:N"), tooltip=["round", "selected", "samples"],
        facet=alt.Facet("round:O", columns=3, title="round")).properties(width=360, height=220))

st.subheader(f"Reviewers · {name}")
stats = pd.DataFrame(studio().metrics.reviewers(project_id))
if stats.empty:
    st.caption("No review decisions yet.")
else:
    st.dataframe(stats, hide_index=True, width="stretch")
agree = studio().metrics.agreement(project_id)
if agree["overlap"] > 1:
    a1, a2, a3 = st.columns(3)
    a1.metric("Samples reviewed by several", agree["samples with several reviews"])
    a2.metric("Reviewers agreed", "-" if agree["agreement %"] is None else f"{agree['agreement %']}%")
    a3.metric("Open conflicts (for an admin)", agree["open conflicts"])
positions = pd.DataFrame(studio().metrics.first_errors(project_id))
if not positions.empty:
    st.altair_chart(alt.Chart(positions).mark_bar().encode(
        x=alt.X("position:O", title="first wrong step (relative position in the student's chain)"),
        y=alt.Y("sum(revisions):Q", title="revisions")).properties(title="Where the teacher's first error falls"),
        width="stretch")

