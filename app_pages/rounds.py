"""Rounds: the phases of every round, start / pause / cancel / resume, live progress with an ETA, the job log,
phase timings, and the teacher cost of the next round before it starts."""

import pandas as pd
import streamlit as st

from elad_engine.service import ACTIVE_JOB, RESUMABLE, EladError, JobStatus, Permission, Phase, TeacherKind
from ui.engine import can, current_project, show_error, studio
from ui.fit_view import show_fit

name, project_id = current_project()
st.title(f"Rounds · {name}")
cfg = studio().projects.config(project_id)

est = studio().rounds.estimate_next(project_id)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Next round", est["round"])
c2.metric("Teacher calls", est["calls"])
c3.metric("Estimated cost", f"${est['usd']:.4f}", help="From the mean call so far" if est["from_history"]
          else "From the prompt of an empty revision and a quarter of teacher.max_tokens")
c4.metric("Worst case", f"${est['worst_usd']:.4f}", help="Every completion at teacher.max_tokens")
st.caption(f"{est['prompt_tokens']:,} prompt + about {est['completion_tokens']:,} completion tokens "
           f"(at most {est['worst_completion_tokens']:,}); teacher `{cfg.teacher.kind}` · "
           + (f"simulated, priced as `{cfg.teacher.price_as}`" if TeacherKind(cfg.teacher.kind).simulated
              else f"model `{cfg.teacher.model}`") + f" · {cfg.rounds.rounds} rounds planned after the warm-up")
if cfg.compute.processes > 1:
    st.caption(f"Compute: pool scoring and training run on **{cfg.compute.processes} processes** through "
               "`accelerate launch`" + (f" with `{cfg.compute.accelerate_config}`" if cfg.compute.accelerate_config
                                        else " (DDP)") + "; the job log shows each launch.")
else:
    st.caption(f"Compute: one process on `{cfg.student.device}`; set compute.processes on the Projects page to "
               "spread scoring and training over several GPUs through accelerate.")

job = studio().rounds.job(project_id)
drawn = None if job is None else (job["id"], job["status"])  # what the buttons below were drawn for
running = job is not None and job["status"] in ACTIVE_JOB
refused = not running and show_fit(studio().rounds.fit(project_id))  # what cannot learn never starts
may_run = can(Permission.RUN) and not refused


def start(max_rounds: int | None = None) -> None:
    try:
        studio().rounds.start(project_id, max_rounds=max_rounds)
    except EladError as e:
        show_error(str(e), "The rounds cannot start; the reason is below.")
        return
    st.rerun()


b1, b2, b3, b4 = st.columns(4)
if b1.button("Start next round", disabled=running or not may_run, type="primary", width="stretch"):
    start(1)
if b2.button("Run all remaining rounds", disabled=running or not may_run, width="stretch"):
    start()
if b3.button("Pause", disabled=not running or not may_run, width="stretch",
             help="Stop at the next safe point; Resume continues where it stopped."):
    studio().rounds.stop(job["id"], JobStatus.PAUSED)
    st.rerun()
if b4.button("Cancel", disabled=not running or not may_run, width="stretch",
             help="Stop at the next safe point; the finished work of the round is kept."):
    studio().rounds.stop(job["id"], JobStatus.CANCELLED)
    st.rerun()
if job is not None and job["status"] in RESUMABLE:
    if st.button(f"Resume (the last job was {job['status']})", disabled=not may_run):
        start()


@st.fragment(run_every=1.0)
def live() -> None:
    job = studio().rounds.job(project_id)
    if (None if job is None else (job["id"], job["status"])) != drawn:
        st.rerun()  # the job started, stopped or ended: redraw the whole page, so its buttons and header follow
    if job is None:
        st.info("No job has run yet for this project. Start the next round above.")
    else:
        status = job["status"]
        st.subheader(f"Job {job['id']}: {status}")
        if job["error"]:
            show_error(job["error"], "The job failed; the reason is below.")
        elif status in (JobStatus.DONE, JobStatus.PAUSED, JobStatus.CANCELLED) and job["message"]:
            st.write(job["message"])
        if status == JobStatus.STOPPING:
            st.info(f"Stopping at the next safe point of the {job['phase'] or 'current'} phase (after the current "
                    "batch or optimiser step; a few seconds); what was done is kept.")
        if job["phase"] and job["total"]:
            done, total = job["progress"] or 0, job["total"]
            eta = studio().rounds.eta_seconds(job)
            on = f" on {cfg.compute.processes} processes" if cfg.compute.processes > 1 and job["phase"] in (
                Phase.EXPLAIN, Phase.TRAIN) else ""
            st.progress(min(1.0, done / total), text=f"{job['phase']}{on}: {done:,} / {total:,}"
                        + ("" if eta is None else f" · about {eta:,.0f} s left"))
        elif job["phase"] and status == JobStatus.RUNNING:
            st.caption(f"Phase: {job['phase']}")
        if job["phase"] == Phase.TRAIN and status in (JobStatus.RUNNING, JobStatus.STOPPING):
            losses = pd.DataFrame(studio().metrics.losses(project_id))
            if not losses.empty:  # the round being trained wrote its loss log last
                current = losses[losses["round"] == losses["round"].max()]
                st.line_chart(current, x="step", y="loss", height=220, x_label="optimiser step",
                              y_label="training loss")
        with st.expander("Job log", expanded=status in (JobStatus.RUNNING, JobStatus.FAILED)):
            st.code("\n".join(r["line"] for r in studio().rounds.job_log(job["id"], last=40)) or "(empty)",
                    language=None)
    rows, details = studio().rounds.table(project_id)
    if rows:
        st.subheader("Phases of every round")
        st.dataframe(pd.DataFrame(rows).fillna(""), hide_index=True, width="stretch")
        if details:
            st.caption(f"Round {rows[-1]['round']}: " + " · ".join(details))


live()
