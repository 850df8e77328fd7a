"""The real browser path: `streamlit run app.py` on 127.0.0.1 driven by Playwright in Debian's chromium. The app
starts its own worker; a reviewer approves with the keyboard, bulk-approves, closes the review, and the worker
finishes the round. Every request the browser makes stays on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

import pytest
from conftest import REPO, reviewed_workspace

from elad_engine.store import Store

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed "
                                "(apt-get install chromium; .ci/run does it)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(tmp_path, tiny_model_dir):
    ws = reviewed_workspace(tmp_path / "ws", tiny_model_dir)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), ELAD_WORKSPACE=str(ws))
    env.pop("ELAD_NO_WORKER", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    yield url, ws
    proc.terminate()
    proc.wait(10)
    store = Store(ws)
    for pid in store.live_workers(60):  # the worker the app started
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


def test_review_in_the_browser_and_the_worker_finishes_the_round(app):
    from playwright.sync_api import expect, sync_playwright

    url, ws = app
    store = Store(ws)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url + "/review")
        page.get_by_label("Your name (recorded on every review)").fill("carol")
        page.keyboard.press("Enter")
        expect(page.get_by_text("Sample 1 of 4", exact=False)).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name=re.compile(r"^Approve Shortcut"))).to_be_enabled(timeout=30_000)
        page.get_by_role("heading", name="Review · p").click()  # focus the page, not the text box
        page.keyboard.press("a")  # the Approve shortcut
        expect(page.get_by_text("1 of 4 decided", exact=False)).to_be_visible(timeout=30_000)
        approved = [r for r in store.revisions(1, 1) if r["status"] == "approved"]
        assert len(approved) == 1 and store.reviews(approved[0]["id"])[-1]["reviewer"] == "carol"

        page.get_by_role("button", name="Approve all 3 in this view").click()
        page.get_by_role("button", name="Yes, approve them").click()
        expect(page.get_by_text("4 of 4 decided", exact=False)).to_be_visible(timeout=30_000)
        close = page.get_by_role("button", name="Close the review and continue the round")
        close.click()
        expect(close).to_be_hidden(timeout=30_000)  # the click reached the server: the round is queued

        page.get_by_role("link", name="Rounds").click()
        expect(page.get_by_text("completed: all 1 rounds are done", exact=False).first).to_be_visible(timeout=120_000)
        browser.close()
    assert [r["status"] for r in store.rounds(1)] == ["done", "done"]
    assert store.live_workers(30), "the app should have started a worker"
    outside = {urlparse(u).hostname for u in requests} - {"127.0.0.1"}
    assert not outside, f"the page fetched from outside the machine: {[u for u in requests if urlparse(u).hostname in outside]}"
