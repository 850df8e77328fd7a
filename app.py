"""ELAD Studio, the web app. Run: `make run` (or `streamlit run app.py`); the workspace is $ELAD_WORKSPACE,
else ./workspace. Long work runs in a worker process, started here when none is alive.

The pages live in app_pages/, not pages/: a pages/ folder beside this file makes Streamlit serve its legacy
multipage routes on direct URLs (/review ran the page without this script and its sidebar)."""

import streamlit as st

from elad_engine.service import UserKind
from ui.engine import ensure_worker, project_picker, reviewer_name, user

# no page icon: Streamlit fetches material-icon favicons from Google
st.set_page_config(page_title="ELAD Studio", layout="wide")
ensure_worker()

accounts = st.Page("app_pages/accounts.py", title="Accounts")
if user().kind == UserKind.VISITOR:  # accounts exist: nothing but the login page until one logs in
    st.navigation([accounts]).run()
    st.stop()
pages = [
    st.Page("app_pages/projects.py", title="Projects", default=True),
    st.Page("app_pages/rounds.py", title="Rounds"),
    st.Page("app_pages/review.py", title="Review"),
    st.Page("app_pages/metrics.py", title="Metrics"),
    st.Page("app_pages/export.py", title="Export"),
    accounts,
]
nav = st.navigation(pages)
with st.sidebar:
    project_picker()
    reviewer_name()
nav.run()
