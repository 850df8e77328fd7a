"""Accounts: scrypt-hashed passwords, one error for every failed login, roles that allow what they say."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import REPO
from elad_engine.accounts import (
    AccessDenied,
    Permission,
    Role,
    User,
    add_user,
    authenticate,
    hash_password,
    open_session,
    require,
    verify_password,
)
from elad_engine.errors import EladError
from elad_engine.service import Studio
from elad_engine.store import Store


def test_passwords_are_salted_scrypt_and_verified_in_constant_form():
    a, b = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert a != b and a.startswith("scrypt$16384$8$1$")  # a fresh salt each time
    assert verify_password("correct horse battery", a) and not verify_password("correct horse batterz", a)
    assert not verify_password("x", "md5$abc") and not verify_password("x", "garbage")


def test_users_roles_and_login(tmp_path):
    store = Store(tmp_path / "ws")
    add_user(store, "ada", "a long admin password", "admin")
    add_user(store, "rev", "a long reviewer password", "reviewer")
    add_user(store, "val", "a long viewer password", "viewer")
    assert store.users.list() == [{"name": "ada", "role": "admin", "active": 1},
                                  {"name": "rev", "role": "reviewer", "active": 1},
                                  {"name": "val", "role": "viewer", "active": 1}]
    raw = (tmp_path / "ws" / "elad.db").read_bytes()
    assert b"a long admin password" not in raw  # only the hash is stored
    assert authenticate(store, "rev", "a long reviewer password") == User("rev", Role.REVIEWER)
    for name, pw in [("rev", "wrong"), ("nobody", "a long reviewer password"), ("", "")]:
        with pytest.raises(AccessDenied, match="^unknown user or wrong password$"):
            authenticate(store, name, pw)
    with pytest.raises(EladError, match="too short"):
        add_user(store, "x", "short", "viewer")
    with pytest.raises(EladError, match="unknown"):
        add_user(store, "x", "a long enough password", "root")
    with pytest.raises(EladError, match="exists already"):
        add_user(store, "ada", "a long admin password", "admin")
    admin, reviewer, viewer = (User(n, Role(r)) for n, r in [("ada", "admin"), ("rev", "reviewer"), ("val", "viewer")])
    for action in ("read", "review", "run", "configure", "export", "users"):
        require(admin, Permission(action))
    require(reviewer, Permission.REVIEW)
    with pytest.raises(AccessDenied, match="rev is a reviewer: only admin may run"):
        require(reviewer, Permission.RUN)
    with pytest.raises(AccessDenied, match="only admin or reviewer may review"):
        require(viewer, Permission.REVIEW)
    require(viewer, Permission.READ)
    for nobody in (None, {"name": "ada", "role": "admin"}):  # no user, or a look-alike, is never let through
        with pytest.raises(AccessDenied, match="no acting user"):
            require(nobody, Permission.READ)
    with pytest.raises(AccessDenied, match="you are not logged in"):
        require(User.visitor(), Permission.READ)


def test_sessions_survive_until_logged_out_expired_reset_or_deactivated_and_roles_count_at_once(tmp_path):
    """Issue 17.3: a browser session is a random token whose hash is a store row; it ends on log out, expiry, a
    password reset or a deactivation, and a role change counts on the next resume."""
    studio = Studio(Store(tmp_path / "ws"), User.visitor())
    ada, ada_token = studio.accounts.create_first_admin("ada", "a long admin password")
    admin = Studio(Store(tmp_path / "ws"), ada)
    admin.accounts.add("rev", "a long reviewer password", "reviewer")
    rev, token = studio.accounts.start_session("rev", "a long reviewer password")
    assert rev == User("rev", Role.REVIEWER) and len(token) >= 40
    raw = (tmp_path / "ws" / "elad.db").read_bytes() + (tmp_path / "ws" / "elad.db-wal").read_bytes()
    assert token.encode() not in raw and ada_token.encode() not in raw  # only sha256 hashes are stored
    assert studio.accounts.resume_session(token) == rev
    for bad in ("", "x" * 43, token + "x", "y" * 500):
        assert studio.accounts.resume_session(bad) is None
    admin.accounts.set_role("rev", "viewer")
    assert studio.accounts.resume_session(token) == User("rev", Role.VIEWER)  # the store's role, now
    studio.accounts.end_session(token)
    assert studio.accounts.resume_session(token) is None  # logged out: this token is refused everywhere
    _, t1 = studio.accounts.start_session("rev", "a long reviewer password")
    _, t2 = studio.accounts.start_session("rev", "a long reviewer password")
    assert admin.accounts.reset_password("rev", "a new long password") == 2
    assert studio.accounts.resume_session(t1) is None and studio.accounts.resume_session(t2) is None
    with pytest.raises(AccessDenied, match="^unknown user or wrong password$"):
        studio.accounts.start_session("rev", "a long reviewer password")
    _, t3 = studio.accounts.start_session("rev", "a new long password")
    assert admin.accounts.set_active("rev", False) == 1 and studio.accounts.resume_session(t3) is None
    with pytest.raises(AccessDenied, match="deactivated: ask an admin"):
        studio.accounts.start_session("rev", "a new long password")
    assert [p["active"] for p in admin.accounts.list()] == [True, False]
    admin.accounts.set_active("rev", True)
    assert studio.accounts.start_session("rev", "a new long password")[0].name == "rev"
    short = open_session(Store(tmp_path / "ws"), rev, seconds=0.05)
    time.sleep(0.1)
    assert studio.accounts.resume_session(short) is None  # expired


def test_the_last_active_admin_cannot_be_demoted_or_deactivated_and_only_admins_manage_users(tmp_path):
    studio = Studio(Store(tmp_path / "ws"), User.visitor())
    ada, _ = studio.accounts.create_first_admin("ada", "a long admin password")
    admin = Studio(Store(tmp_path / "ws"), ada)
    admin.accounts.add("rev", "a long reviewer password", "reviewer")
    for change in (lambda: admin.accounts.set_role("ada", "reviewer"), lambda: admin.accounts.set_active("ada", False)):
        with pytest.raises(EladError, match="only active admin"):
            change()
    assert Store(tmp_path / "ws").users.get("ada")["role"] == "admin"
    with pytest.raises(EladError, match="no user named 'nobody'"):
        admin.accounts.set_role("nobody", "viewer")
    with pytest.raises(EladError, match="too short"):
        admin.accounts.reset_password("rev", "short")
    reviewer = Studio(Store(tmp_path / "ws"), User("rev", Role.REVIEWER))
    for change in (lambda: reviewer.accounts.set_role("rev", "admin"),
                   lambda: reviewer.accounts.set_active("ada", False),
                   lambda: reviewer.accounts.reset_password("ada", "a long new password")):
        with pytest.raises(AccessDenied, match="only admin may users"):
            change()
    admin.accounts.set_role("rev", "admin")  # two admins: now ada may step down
    admin.accounts.set_role("ada", "viewer")
    assert Store(tmp_path / "ws").users.active_admins() == ["rev"]


def test_cli_adds_a_user_with_the_password_on_stdin(tmp_path):
    ws = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-m", "elad_engine", "user", "add", "root-admin", "--role", "admin",
                          "--workspace", str(ws)], input="a very long password\n", capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "added admin 'root-admin'" in out.stdout, out.stderr
    assert authenticate(Store(ws), "root-admin", "a very long password").role == "admin"
    assert "a very long password" not in out.stdout + out.stderr
