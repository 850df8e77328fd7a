"""ELAD Studio, the web app. Run: `make run` (or `streamlit run app.py`); the workspace is $ELAD_WORKSPACE,
else ./workspace. Long work runs in a worker process, started here when none is alive.

The pages live in app_pages/, not pages/: a pages/ folder beside this file makes Streamlit serve its legacy
multipage routes on direct URLs (/review ran the page without this script and its sidebar)."""

import streamlit as st

from elad_engine.service import UserKind, configure_logging
from ui.browser_session import login_form, open_door_gate, restore, served_beyond_loopback, write_pending_cookies
from ui.engine import accounts_exist, ensure_worker, project_picker, reviewer_name, studio, user

# no page icon: Streamlit fetches material-icon favicons from Google
st.set_page_config(page_title="ELAD Studio", layout="wide")
configure_logging()
restore(studio())  # the login and the choices this browser remembered (a refresh or a deep link changes nothing)
write_pending_cookies()
ensure_worker()

accounts = st.Page("app_pages/accounts.py", title="Accounts")
pages = [
    st.Page("app_pages/projects.py", title="Projects", default=True),
    st.Page("app_pages/rounds.py", title="Rounds"),
    st.Page("app_pages/review.py", title="Review"),
    st.Page("app_pages/metrics.py", title="Metrics"),
    st.Page("app_pages/export.py", title="Export"),
    accounts,
]
if not accounts_exist() and served_beyond_loopback():  # no open door: an admin first, whatever the URL
    st.navigation(pages, position="hidden")
    open_door_gate(studio())
    st.stop()
if user().kind == UserKind.VISITOR:  # accounts exist: the login form in place of the page the URL names, which
    st.navigation(pages, position="hidden")  # runs once the user is in (a deep link is kept, not "page not found")
    login_form(studio())
    st.stop()
nav = st.navigation(pages)
with st.sidebar:
    project_picker()
    reviewer_name()
nav.run()
