"""What a browser keeps across a refresh or a deep link: the login (a random session token in a cookie; the store
keeps only its hash and can revoke it: log out, a password reset, a deactivation), the reviewer's name in a
workspace without accounts, and the chosen project. A cookie is written by a one-line script on the run after it
changed, and read from the request that opened the connection (st.context.cookies) when a page is loaded anew."""

from __future__ import annotations

import json

import streamlit as st

from elad_engine.service import SESSION_SECONDS, AccessDenied, EladError, Studio, User

SESSION_COOKIE = "elad_session"
REVIEWER_COOKIE = "elad_reviewer"
PROJECT_COOKIE = "elad_project"
YEAR = 365 * 24 * 3600
_PENDING = "cookie-writes"  # session state: cookie name -> (value, max age) to write on this run


def cookie(name: str) -> str | None:
    value = st.context.cookies.get(name)
    return value if isinstance(value, str) and value else None  # AppTest has no request: a mock, not a str


def remember(name: str, value: str, max_age: int = YEAR) -> None:
    """Have the browser keep `value` under `name` (a max age of 0 forgets it)."""
    st.session_state.setdefault(_PENDING, {})[name] = (value, max_age)


def remember_widget(name: str, key: str) -> None:
    """A widget's on_change: have the browser keep the widget's new value."""
    remember(name, str(st.session_state.get(key) or "").strip())


def write_pending_cookies() -> None:
    """Write the cookies asked for since the last run (call once a run, before anything may stop it)."""
    pending = st.session_state.pop(_PENDING, None)
    if not pending:
        return
    lines = []
    for name, (value, max_age) in pending.items():
        lines.append(f"document.cookie = {json.dumps(name)} + '=' + encodeURIComponent({json.dumps(value)}) + "
                     f"'; Path=/; Max-Age={int(max_age)}; SameSite=Strict' + "
                     "(location.protocol === 'https:' ? '; Secure' : '');")
    st.html("<script>" + "\n".join(lines) + "</script>", unsafe_allow_javascript=True)


def restore(studio: Studio) -> None:
    """At the top of every run: the logged-in user from the session token (checked against the store every run, so
    a revoked session or a changed role counts at once), and the UI choices the browser remembered."""
    if studio.accounts.exist():
        token = st.session_state.get("session-token") or cookie(SESSION_COOKIE)
        found = studio.accounts.resume_session(token) if token else None
        if found is None:
            st.session_state.pop("user", None)
            st.session_state.pop("session-token", None)
            if token and cookie(SESSION_COOKIE):
                remember(SESSION_COOKIE, "", 0)  # an expired or revoked token: the browser forgets it
        else:
            st.session_state["user"], st.session_state["session-token"] = found, token
    if "reviewer" not in st.session_state and cookie(REVIEWER_COOKIE):
        st.session_state["reviewer"] = cookie(REVIEWER_COOKIE)
    if "project" not in st.session_state and "project_next" not in st.session_state and cookie(PROJECT_COOKIE):
        st.session_state["project_next"] = cookie(PROJECT_COOKIE)


def log_in(studio: Studio, name: str, password: str) -> None:
    found, token = studio.accounts.start_session(name, password)
    _logged_in(found, token)


def create_first_admin(studio: Studio, name: str, password: str) -> None:
    found, token = studio.accounts.create_first_admin(name, password)
    _logged_in(found, token)


def _logged_in(found: User, token: str) -> None:
    st.session_state["user"], st.session_state["session-token"] = found, token
    remember(SESSION_COOKIE, token, SESSION_SECONDS)


def log_out(studio: Studio) -> None:
    studio.accounts.end_session(st.session_state.pop("session-token", "") or "")
    st.session_state.pop("user", None)
    remember(SESSION_COOKIE, "", 0)


def login_form(studio: Studio) -> None:
    """The login form, shown in place of whatever page the URL names; that page runs once the user is in."""
    st.title("Log in to ELAD Studio")
    with st.form("login"):
        name = st.text_input("User name")
        pw = st.text_input("Password", type="password")
        if st.form_submit_button("Log in", type="primary"):
            try:
                log_in(studio, name, pw)
                st.rerun()
            except AccessDenied as e:
                st.error(str(e))
    st.caption("You stay logged in in this browser for a week, or until you log out.")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def served_beyond_loopback() -> bool:
    """Whether the server listens on an address other machines may reach (unset: every interface)."""
    address = (st.get_option("server.address") or "").strip()
    return not (address in LOOPBACK or address.startswith("127."))


def first_admin_form(studio: Studio) -> None:
    """The first admin account of a workspace without accounts (after it, everyone logs in)."""
    with st.form("first-admin"):
        name = st.text_input("Admin user name")
        pw = st.text_input("Password (10 characters or more)", type="password")
        if st.form_submit_button("Create the admin account"):
            try:
                create_first_admin(studio, name, pw)
                st.rerun()
            except EladError as e:
                st.error("That did not work; the reason is below.")
                st.code(str(e), language=None, wrap_lines=True)


def open_door_gate(studio: Studio) -> None:
    """Served beyond this machine with no account yet: nothing but the first-admin form, whatever the URL."""
    st.title("Create the first admin account")
    st.warning("This ELAD Studio is served on an address other machines can reach, and its workspace has no "
               "accounts yet, so nothing else is shown until an admin exists. Serve it on 127.0.0.1 (`make run` "
               "does) for a single-user laptop setup without accounts.")
    first_admin_form(studio)
