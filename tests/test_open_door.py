"""Issue 18, no open door: served on an address other than loopback with no accounts, the app shows nothing but the
first-admin form, at every URL, until an admin exists. Checked in a real browser against a real server bound to a
non-loopback address inside a network namespace of its own (nothing outside can reach it), and with AppTest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from elad_engine.store import Store


def namespaces_work() -> bool:
    if not shutil.which("unshare") or not os.path.exists("/usr/bin/chromium"):
        return False
    return subprocess.run(["unshare", "-rn", "ip", "addr", "add", "10.9.9.1/32", "dev", "lo"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not namespaces_work(), reason="needs `unshare -rn` (user and network namespaces) and chromium")
def test_served_beyond_loopback_without_accounts_only_the_first_admin_form_is_served(tmp_path):
    run = subprocess.run(["unshare", "-rn", sys.executable, str(REPO / "tests" / "open_door_probe.py"),
                          str(tmp_path / "ws")], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    for path in ("/", "/review", "/rounds", "/export", "/accounts"):
        assert seen[path]["h1"] == "Create the first admin account", (path, seen[path]["text"])
        assert seen[path]["nav_links"] == 0, path  # no page list either
        assert "Admin user name" in seen[path]["text"] and "Page not found" not in seen[path]["text"]
    assert seen["after"]["h1"] == "Accounts" and seen["after"]["nav_links"] == 1  # the admin is in, still after a
    assert "Logged in as ada (admin)" in seen["after"]["text"]  # reload
    assert [u["name"] for u in Store(tmp_path / "ws").users.list()] == ["ada"]


def test_the_gate_in_apptest_on_an_address_beyond_loopback(tmp_path, monkeypatch):
    from streamlit import config

    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
        assert not at.exception and at.title[0].value == "Create the first admin account"
        assert "Projects" not in [t.value for t in at.title] and not at.sidebar.selectbox
        at.text_input[0].input("ada")
        at.text_input[1].input("a long admin password")
        at.button[0].click().run()
        assert not at.exception and at.title[0].value == "Projects"
    finally:
        config.set_option("server.address", "127.0.0.1")
