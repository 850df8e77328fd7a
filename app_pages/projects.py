"""Projects: the list; the demo project in one click; a new project from a dataset file (upload or server path)
with a column mapping and a preview of parsed rows and row errors; the selected project's settings."""

import pandas as pd
import streamlit as st

from elad_engine.projects import create_demo_project
from ui.engine import can, store, user
from ui.project_forms import import_form, settings_form

st.title("Projects")
projects = store().projects()
if projects:
    rows = []
    for p in projects:
        cfg, counts = store().config(p["id"]), store().count_examples(p["id"])
        done = [r["round"] for r in store().rounds(p["id"]) if r["status"] == "done"]
        acc = [m["accuracy"] for m in store().metrics(p["id"]) if m["accuracy"] is not None]
        rows.append({"project": p["name"], "pool": counts.get("pool", 0), "test": counts.get("test", 0),
                     "strategy": cfg.selection.strategy, "teacher": f"{cfg.teacher.kind} · {cfg.teacher.model}",
                     "review": cfg.review.policy, "rounds done": len(done),
                     "best accuracy": max(acc) if acc else None})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
else:
    st.info("No project yet. Start with the embedded demo, or import a dataset below.")

c1, c2, c3 = st.columns([2, 1, 1])
pool = c2.number_input("Demo pool size", 16, 100_000, 400, step=16)
test = c3.number_input("Demo test size", 16, 100_000, 400, step=16)
if c1.button("Create the demo project", type="primary", disabled=store().find_project("demo") is not None or not can("configure"),
             help="Synthetic multi-step arithmetic, the shipped tiny student and the oracle teacher."):
    create_demo_project(store(), pool=int(pool), test=int(test), actor=user())
    st.session_state["project"] = "demo"
    st.rerun()
c1.caption("The demo: synthetic word problems of 1-4 steps, the tiny student in data/tiny-student, the exact "
           "arithmetic oracle as teacher, warm-up 8 and 3 rounds of 48, auto-approve (change it below).")

with st.expander("New project from a dataset file", expanded=not projects):
    if can("configure"):
        import_form(store())
    else:
        st.caption("Only an admin can create projects.")

if projects:
    st.divider()
    names = [p["name"] for p in projects]
    current = st.session_state.get("project")
    name = current if current in names else names[0]
    st.subheader(f"Settings · {name}")
    settings_form(store(), store().project_id(name), editable=can("configure"))
