"""Accounts: log in; the first admin account on a new workspace; admins add users. Passwords are hashed with
scrypt in the engine (elad_engine/accounts.py); nothing here stores them."""

import streamlit as st

from elad_engine.service import ROLES, AccessDenied, EladError, Permission, UserKind
from ui.engine import accounts_exist, can, show_error, studio, user

st.title("Accounts")
if not accounts_exist():
    st.info("This workspace has no accounts: anyone who reaches the app may do everything. Create the first "
            "admin account to require a login (or run `elad user add NAME --role admin`).")
    with st.form("first-admin"):
        name = st.text_input("Admin user name")
        pw = st.text_input("Password (10 characters or more)", type="password")
        if st.form_submit_button("Create the admin account"):
            try:
                st.session_state["user"] = studio().accounts.create_first_admin(name, pw)
                st.rerun()
            except EladError as e:
                show_error(str(e))
elif user().kind == UserKind.VISITOR:
    with st.form("login"):
        name = st.text_input("User name")
        pw = st.text_input("Password", type="password")
        if st.form_submit_button("Log in", type="primary"):
            try:
                st.session_state["user"] = studio().accounts.log_in(name, pw)
                st.rerun()
            except AccessDenied as e:
                st.error(str(e))
else:
    st.write(f"Logged in as **{user().name}** ({user().role}).")
    if "accounts-flash" in st.session_state:  # what the last run did, shown after the rerun that refreshed the table
        st.success(st.session_state.pop("accounts-flash"))
    st.dataframe(studio().accounts.list(), hide_index=True)
    if not can(Permission.USERS):
        st.stop()
    if st.session_state.pop("add-user-done", False):  # the user was added: the password never stays in the form
        for key in ("new-user-name", "new-user-pw"):
            st.session_state.pop(key, None)
    with st.form("add-user"):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("New user name", key="new-user-name")
        pw = c2.text_input("Their password (10+ characters)", type="password", key="new-user-pw")
        role = c3.selectbox("Role", ROLES, index=1)
        if st.form_submit_button("Add the user"):
            try:
                studio().accounts.add(name, pw, role)
                st.session_state["accounts-flash"] = f"Added {role} {name.strip()!r}."
                st.session_state["add-user-done"] = True
                st.rerun()  # so the table above lists the new user
            except EladError as e:
                show_error(str(e))
