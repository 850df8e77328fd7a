"""Metrics: accuracy per round and against cumulative teacher cost, several projects overlaid, with the starting
student as a dashed line; the per-round table; training runs and loss curves; selection-score histograms;
reviewer statistics and where the teacher's first error falls."""

import pandas as pd
import streamlit as st

from elad_engine.service import EladError
from ui import charts
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
        st.vega_lite_chart(curves, charts.band_and_lines(
            charts.field("completion_tokens", "quantitative", "cumulative teacher completion tokens (mean over seeds)"),
            "low", "high", charts.field("accuracy", "quantitative", "test accuracy (mean; band: 95% CI over seeds)",
                                        scale={"zero": False}),
            "series", ["series", "round", "seeds", "accuracy", "low", "high", "completion_tokens"]), width="stretch")

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
x_format = {"round": "d", "cost_usd": "$.4f"}.get(x_field, ",d")
x = charts.field(x_field, "quantitative", x_axis, axis={"format": x_format})
color = charts.field("project", "nominal")
tooltip = ["project", "round", "accuracy", "multi_step", "completion_tokens", "cost_usd"]
plots = [("accuracy", "test accuracy", "Accuracy"), ("multi_step", "multi-step accuracy", "Multi-step accuracy"),
          ("format_ok", "explanations in the format", "Format followed (test split)")]
starting = pd.DataFrame(studio().metrics.baselines([studio().projects.id_of(n) for n in chosen]))
for column, (field, axis_title, title) in zip(st.columns(3), plots):
    y = charts.field(field, "quantitative", axis_title, scale={"zero": False}, axis={"format": ".0%"})
    chart = charts.lines(x, y, color, tooltip, title)
    if field == "accuracy" and not starting.empty:  # the student before any training: what the rounds added to
        chart = charts.with_rules(chart, starting.to_dict("records"), "base_accuracy", color,
                                  ["project", "base_accuracy"])
    column.vega_lite_chart(frame, chart, width="stretch")
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
        t2.vega_lite_chart(losses, charts.lines(
            charts.field("step", "quantitative", "optimiser step"),
            charts.field("loss", "quantitative", "training loss"),
            charts.field("round", "nominal"), ["round", "step", "loss"], "Training loss by round", points=False,
            height=260), width="stretch")

st.subheader(f"Selection scores · {name}")
scores = pd.DataFrame(studio().metrics.score_histogram(project_id))  # bars counted in SQL, not every sample
if scores.empty:
    st.caption("No scores yet.")
else:
    st.vega_lite_chart(scores, charts.histogram_facets("start", "end", "samples", "selected", "round",
                                                       "uncertainty score", "samples"))

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
    st.vega_lite_chart(positions, charts.bars(
        charts.field("position", "ordinal", "first wrong step (relative position in the student's chain)"),
        charts.field("revisions", "quantitative", "revisions", aggregate="sum"),
        "Where the teacher's first error falls"), width="stretch")

