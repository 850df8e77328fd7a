"""Projects: the list; the demo project in one click; a new project in a guided setup (dataset, student, teacher,
budgets) or from a dataset file in one form (upload or server path, a column mapping, a preview of parsed rows
and row errors); the selected project's settings in tabs."""

import pandas as pd
import streamlit as st

from elad_engine.service import Permission
from ui.engine import can, select_project, studio
from ui.project_forms import import_form, settings_form
from ui.setup_wizard import guided_setup

st.title("Projects")
summaries = studio().projects.summaries()
if "projects-flash" in st.session_state:  # what the last run saved, shown after the rerun that refreshed the table
    st.success(st.session_state.pop("projects-flash"))
if summaries:
    st.dataframe(pd.DataFrame(summaries), hide_index=True, width="stretch")
else:
    st.info("No project yet. Start with the embedded demo, or import a dataset below.")

c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
students = studio().students.choices()
student = c2.selectbox("Demo student", list(students), format_func=students.get,
                       help="The shipped tiny student, or a pretrained one registered in this workspace "
                       "(`make real-student` adds SmolLM2-135M-Instruct).")
pool = c3.number_input("Demo pool size", 16, 100_000, 400, step=16)
test = c4.number_input("Demo test size", 16, 100_000, 400, step=16)
if c1.button("Create the demo project", type="primary",
             disabled=studio().projects.exists("demo") or not can(Permission.CONFIGURE),
             help="Synthetic multi-step arithmetic, the chosen student and the oracle teacher."):
    studio().projects.create_demo(pool=int(pool), test=int(test), student=student)
    select_project("demo")
    st.rerun()
c1.caption("The demo: synthetic word problems of 1-5 steps, half ending with a skill the student is unsure of, the "
           "shipped tiny student (data/tiny-student), the "
           "exact arithmetic oracle as teacher, warm-up 8 and 3 rounds of 48, auto-approve (change it below).")

with st.expander("New project: guided setup (dataset, student, teacher, budgets)", expanded=not summaries):
    if can(Permission.CONFIGURE):
        guided_setup()
    else:
        st.caption("Only an admin can create projects.")
with st.expander("New project from a dataset file in one form"):
    if can(Permission.CONFIGURE):
        import_form()
    else:
        st.caption("Only an admin can create projects.")

if summaries:
    st.divider()
    names = [p["project"] for p in summaries]
    current = st.session_state.get("project_next", st.session_state.get("project"))
    name = current if current in names else names[0]
    st.subheader(f"Settings · {name}")
    settings_form(studio().projects.id_of(name), editable=can(Permission.CONFIGURE))
