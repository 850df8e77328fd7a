"""Rounds: the phases of every round, start / pause / cancel / resume, live progress with an ETA, the job log,
phase timings, and the teacher cost of the next round before it starts."""

import time

import pandas as pd
import streamlit as st

from elad_engine.rounds import estimate_next_round
from elad_engine.worker import enqueue_rounds, request_stop
from ui.engine import active_job, can, current_project, show_error, store, user

name, pid = current_project()
st.title(f"Rounds · {name}")
cfg = store().config(pid)

est = estimate_next_round(store(), pid)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Next round", est["round"])
c2.metric("Teacher calls", est["calls"])
c3.metric("Estimated cost", f"${est['usd']:.4f}", help="From the mean call so far" if est["from_history"]
          else "From the prompt of an empty revision and a quarter of teacher.max_tokens")
c4.metric("Worst case", f"${est['worst_usd']:.4f}", help="Every completion at teacher.max_tokens")
st.caption(f"{est['prompt_tokens']:,} prompt + about {est['completion_tokens']:,} completion tokens "
           f"(at most {est['worst_completion_tokens']:,}); teacher `{cfg.teacher.kind}` · model "
           f"`{cfg.teacher.model}` · {cfg.rounds.rounds} rounds planned after the warm-up")
if cfg.compute.processes > 1:
    st.caption(f"Compute: pool scoring and training run on **{cfg.compute.processes} processes** through "
               "`accelerate launch`" + (f" with `{cfg.compute.accelerate_config}`" if cfg.compute.accelerate_config
                                        else " (DDP)") + "; the job log shows each launch.")
else:
    st.caption(f"Compute: one process on `{cfg.student.device}`; set compute.processes on the Projects page to "
               "spread scoring and training over several GPUs through accelerate.")

job = active_job(pid)
running = job is not None and job["status"] in ("queued", "running", "stopping")
may_run = can("run")
b1, b2, b3, b4 = st.columns(4)
if b1.button("Start next round", disabled=running or not may_run, type="primary", width="stretch"):
    enqueue_rounds(store(), pid, max_rounds=1, actor=user())
    st.rerun()
if b2.button("Run all remaining rounds", disabled=running or not may_run, width="stretch"):
    enqueue_rounds(store(), pid, actor=user())
    st.rerun()
if b3.button("Pause", disabled=not running or not may_run, width="stretch",
             help="Stop at the next safe point; Resume continues where it stopped."):
    request_stop(store(), job["id"], "paused", actor=user())
    st.rerun()
if b4.button("Cancel", disabled=not running or not may_run, width="stretch",
             help="Stop at the next safe point; the finished work of the round is kept."):
    request_stop(store(), job["id"], "cancelled", actor=user())
    st.rerun()
if job is not None and job["status"] in ("paused", "cancelled", "failed"):
    if st.button(f"Resume (the last job was {job['status']})", disabled=not may_run):
        enqueue_rounds(store(), pid, actor=user())
        st.rerun()


@st.fragment(run_every=1.0)
def live() -> None:
    job = active_job(pid)
    if job is None:
        st.info("No job has run yet for this project. Start the next round above.")
    else:
        status = job["status"]
        st.subheader(f"Job {job['id']}: {status}")
        if job["error"]:
            show_error(job["error"], "The job failed; the reason is below.")
        elif status in ("done", "paused", "cancelled") and job["message"]:
            st.write(job["message"])
        if job["phase"] and job["total"]:
            done, total = job["progress"] or 0, job["total"]
            eta = ""
            if status in ("running", "stopping") and job["phase_started"] and done > (job["phase_start_done"] or 0):
                rate = (done - (job["phase_start_done"] or 0)) / max(1e-6, time.time() - job["phase_started"])
                eta = f" · about {max(0, total - done) / rate:,.0f} s left"
            on = f" on {cfg.compute.processes} processes" if cfg.compute.processes > 1 and job["phase"] in (
                "explain", "train") else ""
            st.progress(min(1.0, done / total), text=f"{job['phase']}{on}: {done:,} / {total:,}{eta}")
        with st.expander("Job log", expanded=status in ("running", "failed")):
            st.code("\n".join(r["line"] for r in store().job_log(job["id"], last=40)) or "(empty)", language=None)
    rows = []
    for r in store().rounds(pid):
        phases = {p["phase"]: p for p in store().phases(pid, r["round"])}
        row = {"round": r["round"], "status": r["status"] + (f" ({r['stop_reason']})" if r["stop_reason"] else "")}
        for ph, p in phases.items():
            row[ph] = p["status"] + (f" · {p['seconds']:.1f}s" if p["seconds"] else "")
        rows.append(row)
    if rows:
        st.subheader("Phases of every round")
        st.dataframe(pd.DataFrame(rows).fillna(""), hide_index=True, width="stretch")
        for r in store().rounds(pid):
            details = [f"{p['phase']}: {p['detail']}" for p in store().phases(pid, r["round"]) if p.get("detail")]
            if details and r["round"] == rows[-1]["round"]:
                st.caption(f"Round {r['round']}: " + " · ".join(details))


live()
