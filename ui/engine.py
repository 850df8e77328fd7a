"""The web app's handle on the engine: the workspace (one connection per script thread), the acting user of this
browser session, and the `Studio` each page calls (elad_engine.service: it checks the user's role on every
action); the background worker; the sidebar's project picker and reviewer. Session state holds only the user's
choices."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from elad_engine.service import Permission, Studio, User, UserKind, Workspace, live_workers, open_workspace
from elad_engine.service import ensure_worker as _ensure_worker
from ui.browser_session import PROJECT_COOKIE, REVIEWER_COOKIE, log_out, remember_widget


def workspace_dir() -> Path:
    return Path(os.environ.get("ELAD_WORKSPACE") or "workspace").resolve()


log = logging.getLogger("elad_engine.app")
_THREAD = threading.local()  # each script thread (a browser session's run) has its own connection


def workspace() -> Workspace:
    """This thread's handle on the workspace: one SQLite connection per script thread, never shared between browser
    sessions, so a session reads only what others committed (WAL snapshots) and never their open transaction."""
    path = str(workspace_dir())
    opened = getattr(_THREAD, "workspaces", None)
    if opened is None:
        opened = _THREAD.workspaces = {}
    if path not in opened:
        opened[path] = open_workspace(path)
    return opened[path]


@st.cache_resource
def _spawns() -> dict:
    return {}  # workspace -> when this server last started a worker for it


def accounts_exist() -> bool:
    return Studio(workspace(), User.visitor()).accounts.exist()


def user() -> User:
    """Who acts in this browser session: the logged-in account; a visitor until one logs in (where accounts
    exist); else the workspace's single user, under the name typed in the sidebar."""
    if accounts_exist():
        found = st.session_state.get("user")
        return found if isinstance(found, User) else User.visitor()
    return User.single_user(st.session_state.get("reviewer") or "")


def studio() -> Studio:
    return Studio(workspace(), user())


def can(permission: Permission) -> bool:
    return user().may(permission)


def secrets_into_environment() -> None:
    """API keys may live in .streamlit/secrets.toml (KEY = "value" at the top level) instead of the shell:
    they are handed to the worker through its environment, never to the store, a log or a page."""
    try:
        items = dict(st.secrets)
    except StreamlitSecretNotFoundError:  # no secrets file: keys come from the environment
        return
    except Exception as e:  # a secrets file that cannot be read: say so in the log, and go on without it
        log.error("cannot read .streamlit/secrets.toml (%s: %s); API keys come from the environment only",
                  type(e).__name__, e)
        return
    for key, value in items.items():
        if isinstance(value, str) and key.isidentifier() and key.upper() == key and key not in os.environ:
            os.environ[key] = value


def ensure_worker() -> None:
    """Start a worker for this workspace when none has beaten its heartbeat lately (one query per run). A
    worker just started needs a few seconds to beat, so this server does not start another for 30 s."""
    if os.environ.get("ELAD_NO_WORKER") == "1" or live_workers(workspace()):
        return
    secrets_into_environment()
    spawns, key = _spawns(), str(workspace_dir())
    if time.time() - spawns.get(key, 0.0) > 30:
        spawns[key] = time.time()
        _ensure_worker(workspace_dir())


def select_project(name: str) -> None:
    """Make `name` the sidebar's project on the next run. The picker's own key cannot be set once the picker is
    drawn in this run (Streamlit raises), so the choice waits in `project_next` until the picker takes it."""
    st.session_state["project_next"] = name


def project_picker() -> None:
    """The sidebar's project; the browser remembers it across a refresh (ui/browser_session.py)."""
    names = studio().projects.names()
    if not names:
        st.caption("No project yet: create one on the Projects page.")
        return
    if "project_next" in st.session_state:
        st.session_state["project"] = st.session_state.pop("project_next")
    current = st.session_state.get("project")
    if current not in names:
        st.session_state.pop("project", None)
    st.selectbox("Project", names, index=names.index(current) if current in names else 0, key="project",
                 on_change=remember_widget, args=(PROJECT_COOKIE, "project"))


def reviewer_name() -> None:
    """With accounts, the reviewer is the logged-in user; without, a name typed here (remembered by the browser)."""
    u = user()
    if u.kind == UserKind.ACCOUNT:
        st.caption(f"Logged in as **{u.name}** ({u.role})")
        if st.button("Log out"):
            log_out(studio())
            st.rerun()
        return
    st.text_input("Your name (recorded on every review)", key="reviewer", placeholder="e.g. alice",
                  on_change=remember_widget, args=(REVIEWER_COOKIE, "reviewer"))
    st.caption("No accounts yet: anyone who reaches this app may do everything. Create the first admin "
               "on the Accounts page.")


def current_project() -> tuple[str, int]:
    """The sidebar's project, or stop the page with a pointer to the Projects page."""
    names = studio().projects.names()
    name = st.session_state.get("project_next", st.session_state.get("project"))
    if name not in names:
        name = names[0] if names else None
    if name is None:
        st.info("No project yet. Create one on the Projects page.")
        st.stop()
    return name, studio().projects.id_of(name)


def show_error(text: str, headline: str = "That did not work; the reason is below.") -> None:
    """An error whose text may quote a dataset or a model: a fixed headline, then the text as plain code, so
    no markdown, link or image can come out of it (escaping is not enough: bare URLs still autolink)."""
    st.error(headline)
    st.code(str(text), language=None, wrap_lines=True)
