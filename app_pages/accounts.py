"""Accounts: the first admin account on a new workspace; the user list; admins add users, change a role, reset a
password, deactivate or reactivate an account. Passwords are hashed with scrypt in the engine
(elad_engine/accounts.py); nothing here stores them."""

import streamlit as st

from elad_engine.service import ROLES, EladError, Permission, UserKind
from ui.browser_session import first_admin_form, login_form
from ui.engine import accounts_exist, can, show_error, studio, user

if not accounts_exist():
    st.title("Accounts")
    st.info("This workspace has no accounts: anyone who reaches the app may do everything. Create the first "
            "admin account to require a login (or run `elad user add NAME --role admin`).")
    first_admin_form(studio())
    st.stop()
if user().kind == UserKind.VISITOR:  # the app shows the login form itself; this is for the page run alone
    login_form(studio())
    st.stop()

st.title("Accounts")
st.write(f"Logged in as **{user().name}** ({user().role}).")
if "accounts-flash" in st.session_state:  # what the last run did, shown after the rerun that refreshed the table
    st.success(st.session_state.pop("accounts-flash"))
people = studio().accounts.list()
st.dataframe([{"user": p["name"], "role": p["role"], "status": "active" if p["active"] else "deactivated"}
              for p in people], hide_index=True)
if not can(Permission.USERS):
    st.stop()


def done(message: str, clear: tuple[str, ...] = ()) -> None:
    """Say what was done after the rerun that redraws the table; no password stays in a form."""
    st.session_state["accounts-flash"] = message
    st.session_state["accounts-clear"] = clear
    st.rerun()


for key in st.session_state.pop("accounts-clear", ()):
    st.session_state.pop(key, None)
with st.form("add-user"):
    st.subheader("Add a user")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("New user name", key="new-user-name")
    pw = c2.text_input("Their password (10+ characters)", type="password", key="new-user-pw")
    role = c3.selectbox("Role", ROLES, index=1)
    if st.form_submit_button("Add the user"):
        try:
            studio().accounts.add(name, pw, role)
            done(f"Added {role} {name.strip()!r}.", ("new-user-name", "new-user-pw"))
        except EladError as e:
            show_error(str(e))

st.subheader("Change a user")
names = [p["name"] for p in people]
who = st.selectbox("User", names, key="manage-user")
current = next(p for p in people if p["name"] == who)
c1, c2, c3 = st.columns(3)
with c1.form("set-role"):
    new_role = st.selectbox("Role", ROLES, index=ROLES.index(current["role"]), key=f"manage-role-{who}")
    if st.form_submit_button("Change the role"):
        try:
            studio().accounts.set_role(who, new_role)
            done(f"{who}'s role is now {new_role}; it counts from their next click.")
        except EladError as e:
            show_error(str(e))
with c2.form("reset-password"):
    new_pw = st.text_input("New password (10+ characters)", type="password", key="manage-pw")
    if st.form_submit_button("Reset the password"):
        try:
            ended = studio().accounts.reset_password(who, new_pw)
            done(f"{who}'s password was reset; {ended} open session(s) ended, so they log in again.", ("manage-pw",))
        except EladError as e:
            show_error(str(e))
with c3:
    if current["active"]:
        st.caption("A deactivated user cannot log in; their open sessions end at once. Their reviews are kept.")
        if st.button("Deactivate", key="manage-deactivate", disabled=who == user().name,
                     help="You cannot deactivate yourself." if who == user().name else None):
            try:
                ended = studio().accounts.set_active(who, False)
                done(f"{who} is deactivated; {ended} open session(s) ended.")
            except EladError as e:
                show_error(str(e))
    elif st.button("Reactivate", key="manage-reactivate"):
        studio().accounts.set_active(who, True)
        done(f"{who} is active again and may log in.")
