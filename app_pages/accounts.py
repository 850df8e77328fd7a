"""Accounts: log in; the first admin account on a new workspace; admins add users. Passwords are hashed with
scrypt in the engine (elad_engine/accounts.py); nothing here stores them."""

import streamlit as st

from elad_engine.accounts import ROLES, AccessDenied, add_user, authenticate, require
from elad_engine.errors import EladError
from ui.engine import accounts_exist, show_error, store, user

st.title("Accounts")
if not accounts_exist():
    st.info("This workspace has no accounts: anyone who reaches the app may do everything. Create the first "
            "admin account to require a login (or run `python -m elad_engine user add NAME --role admin`).")
    with st.form("first-admin"):
        name = st.text_input("Admin user name")
        pw = st.text_input("Password (10 characters or more)", type="password")
        if st.form_submit_button("Create the admin account"):
            try:
                add_user(store(), name.strip(), pw, "admin")
                st.session_state["user"] = authenticate(store(), name.strip(), pw)
                st.rerun()
            except EladError as e:
                show_error(str(e))
elif user() is None:
    with st.form("login"):
        name = st.text_input("User name")
        pw = st.text_input("Password", type="password")
        if st.form_submit_button("Log in", type="primary"):
            try:
                st.session_state["user"] = authenticate(store(), name.strip(), pw)
                st.rerun()
            except AccessDenied as e:
                st.error(str(e))
else:
    st.write(f"Logged in as **{user()['name']}** ({user()['role']}).")
    st.dataframe(store().users(), hide_index=True)
    try:
        require(user(), "users")
    except AccessDenied:
        st.stop()
    with st.form("add-user"):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("New user name")
        pw = c2.text_input("Their password (10+ characters)", type="password")
        role = c3.selectbox("Role", ROLES, index=1)
        if st.form_submit_button("Add the user"):
            try:
                add_user(store(), name.strip(), pw, role)
                st.success(f"Added {role} {name.strip()!r}.")
            except EladError as e:
                show_error(str(e))
