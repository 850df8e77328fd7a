"""The engine handles the pages share (cached once per server process) and the sidebar's choices."""

from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from elad_engine.store import Store
from elad_engine.worker import STALE_S
from elad_engine.worker import ensure_worker as _ensure_worker


def workspace() -> Path:
    return Path(os.environ.get("ELAD_WORKSPACE") or "workspace").resolve()


@st.cache_resource
def _store(path: str) -> Store:
    return Store(path)


def store() -> Store:
    return _store(str(workspace()))


@st.cache_resource
def _spawns() -> dict:
    return {}  # workspace -> when this server last started a worker for it


def secrets_into_environment() -> None:
    """API keys may live in .streamlit/secrets.toml (KEY = "value" at the top level) instead of the shell:
    they are handed to the worker through its environment, never to the store, a log or a page."""
    try:
        items = dict(st.secrets)
    except Exception:  # no secrets file: keys come from the environment
        return
    for key, value in items.items():
        if isinstance(value, str) and key.isidentifier() and key.upper() == key and key not in os.environ:
            os.environ[key] = value


def ensure_worker() -> None:
    """Start a worker for this workspace when none has beaten its heartbeat lately (one query per run). A
    worker just started needs a few seconds to beat, so this server does not start another for 30 s."""
    if os.environ.get("ELAD_NO_WORKER") == "1" or store().live_workers(STALE_S):
        return
    secrets_into_environment()
    spawns, key = _spawns(), str(workspace())
    if time.time() - spawns.get(key, 0.0) > 30:
        spawns[key] = time.time()
        _ensure_worker(workspace())


def project_picker() -> None:
    names = [p["name"] for p in store().projects()]
    if not names:
        st.caption("No project yet: create one on the Projects page.")
        return
    current = st.session_state.get("project")
    st.selectbox("Project", names, index=names.index(current) if current in names else 0, key="project")


def reviewer_name() -> None:
    """With accounts, the reviewer is the logged-in user; without, a name typed here."""
    u = user()
    if u:
        st.session_state["reviewer"] = u["name"]
        st.caption(f"Logged in as **{u['name']}** ({u['role']})")
        if st.button("Log out"):
            st.session_state.pop("user", None)
            st.rerun()
        return
    st.text_input("Your name (recorded on every review)", key="reviewer", placeholder="e.g. alice")
    st.caption("No accounts yet: anyone who reaches this app may do everything. Create the first admin "
               "on the Accounts page.")


def accounts_exist() -> bool:
    return bool(store().users())


def user() -> dict | None:
    """The logged-in user ({name, role}), or None in a workspace without accounts."""
    return st.session_state.get("user") if accounts_exist() else None


def can(action: str) -> bool:
    from elad_engine.accounts import AccessDenied, require
    try:
        require(user(), action)
        return True
    except AccessDenied:
        return False


def current_project() -> tuple[str, int]:
    """The sidebar's project, or stop the page with a pointer to the Projects page."""
    names = [p["name"] for p in store().projects()]
    name = st.session_state.get("project")
    if name not in names:
        name = names[0] if names else None
    if name is None:
        st.info("No project yet. Create one on the Projects page.")
        st.stop()
    return name, store().project_id(name)


def active_job(pid: int, kind: str = "rounds") -> dict | None:
    jobs = [j for j in store().jobs(pid) if j["kind"] == kind]
    live = [j for j in jobs if j["status"] in ("queued", "running", "stopping")]
    return live[-1] if live else (jobs[-1] if jobs else None)


def show_error(text: str, headline: str = "That did not work; the reason is below.") -> None:
    """An error whose text may quote a dataset or a model: a fixed headline, then the text as plain code, so
    no markdown, link or image can come out of it (escaping is not enough: bare URLs still autolink)."""
    st.error(headline)
    st.code(str(text), language=None, wrap_lines=True)
