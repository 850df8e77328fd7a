"""Accounts: scrypt-hashed passwords, one error for every failed login, roles that allow what they say."""

from __future__ import annotations

import subprocess
import sys

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
    require,
    verify_password,
)
from elad_engine.errors import EladError
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
    assert store.users.list() == [{"name": "ada", "role": "admin"}, {"name": "rev", "role": "reviewer"},
                             {"name": "val", "role": "viewer"}]
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


def test_cli_adds_a_user_with_the_password_on_stdin(tmp_path):
    ws = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-m", "elad_engine", "user", "add", "root-admin", "--role", "admin",
                          "--workspace", str(ws)], input="a very long password\n", capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "added admin 'root-admin'" in out.stdout, out.stderr
    assert authenticate(Store(ws), "root-admin", "a very long password").role == "admin"
    assert "a very long password" not in out.stdout + out.stderr
