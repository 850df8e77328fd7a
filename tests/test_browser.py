"""The whole story in a real browser: `streamlit run app.py` on 127.0.0.1 driven by Playwright in Debian's
chromium, on an empty workspace. Create the demo project (small pool), switch it to human review, start a
round, approve (keyboard), edit, reject, bulk-approve, watch the worker train and evaluate, see the metrics,
build the export and download it as a zip. Screenshots of every page go to test-output/screenshots/.
Every request the browser makes must stay on 127.0.0.1."""

from __future__ import annotations

import os
import re
import zipfile
from urllib.parse import urlparse

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS, SHOTS, needs_chromium, streamlit_app
from elad_engine.store import Store

pytestmark = needs_chromium
ARGS = CHROMIUM_ARGS


@pytest.fixture
def app(tmp_path):
    ws = tmp_path / "ws"
    with streamlit_app(ws) as (url, _):
        yield url, ws
    for pid in Store(ws).workers.live(60):  # the worker the app started
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


def test_the_whole_story_in_the_browser(app, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    url, ws = app
    SHOTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.on("request", lambda r: requests.append(r.url))

        def go(name: str) -> None:
            page.get_by_role("link", name=name).click()
            expect(page.get_by_role("heading", level=1).first).to_contain_text(name, timeout=30_000)

        def decided(n: int, total: int = 8) -> None:
            expect(page.get_by_text(f"{n} of {total} decided", exact=False)).to_be_visible(timeout=30_000)

        # Projects: the demo with a small pool, switched to human review
        page.goto(url)
        expect(page.get_by_text("No project yet", exact=False).first).to_be_visible(timeout=60_000)
        page.get_by_label("Demo pool size").fill("32")
        page.get_by_label("Demo test size").fill("32")
        page.get_by_role("button", name="Create the demo project").click()
        expect(page.get_by_text("Settings · demo")).to_be_visible(timeout=60_000)
        page.get_by_role("tab", name="Review").click()  # the settings are grouped in tabs
        policy = page.get_by_role("combobox", name="Who decides revisions")
        for _ in range(3):  # the option list can close under a rerun; try again
            policy.click()
            try:
                page.get_by_role("option", name="human", exact=True).click(timeout=5_000)
                break
            except Exception:
                page.keyboard.press("Escape")
        expect(policy).to_have_value("human")
        page.get_by_role("button", name="Save settings").click()
        expect(page.get_by_text("Saved.")).to_be_visible(timeout=30_000)
        page.get_by_label("Your name (recorded on every review)").fill("dana")
        page.keyboard.press("Enter")
        page.wait_for_timeout(1500)  # the run that writes the name's cookie
        page.reload()  # issue 17.3: without accounts a refresh kept nothing, and Approve was disabled
        expect(page.get_by_label("Your name (recorded on every review)")).to_have_value("dana", timeout=30_000)
        expect(page.get_by_text("Settings · demo")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(SHOTS / "1-projects.png"), full_page=True)
        store = Store(ws)
        pid = store.projects.id_of("demo")
        assert store.projects.config(pid).review.policy == "human"
        assert store.examples.counts(pid) == {"pool": 32, "test": 32}

        # Rounds: start the warm-up round; the worker the app started runs it up to the review
        go("Rounds")
        page.get_by_role("button", name="Start next round").click()
        expect(page.get_by_text("waits for review", exact=False).first).to_be_visible(timeout=120_000)
        page.screenshot(path=str(SHOTS / "2-rounds-waiting.png"), full_page=True)

        # Review: approve with the keyboard, edit one, reject one, bulk-approve the rest
        go("Review")
        expect(page.get_by_text("Sample 1 of 8", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name=re.compile(r"^Approve Shortcut"))).to_be_enabled(timeout=30_000)
        page.screenshot(path=str(SHOTS / "3-review-sample.png"), full_page=True)
        page.get_by_role("heading", name="Review · demo").click()  # focus the page, not a text box
        page.keyboard.press("a")
        decided(1)
        page.get_by_role("button", name=re.compile(r"^Edit")).click()
        page.get_by_label("Steps, one per line").fill("3 + 4 = 7\n7 * 2 = 14")
        page.get_by_label("Answer", exact=True).fill("14")
        page.get_by_role("button", name="Save my version").click()
        decided(2)
        page.get_by_role("button", name=re.compile(r"^Reject")).click()
        page.get_by_label("Reason (kept in the review log)").fill("wrong chain")
        page.get_by_role("button", name="Reject this sample").click()
        decided(3)
        page.get_by_role("button", name="Approve all 5 in this view").click()
        page.get_by_role("button", name="Yes, approve them").click()
        decided(8)
        actions = sorted((r["action"], r["reviewer"]) for r in store.reviews.of_project(pid))
        assert actions == [("approve", "dana")] * 6 + [("edit", "dana"), ("reject", "dana")]

        # The queue is decided: the round goes on by itself (training, evaluation)
        go("Rounds")
        expect(page.get_by_text("Stopped as asked: ran 1 round; start again for the next",
                                exact=False).first).to_be_visible(timeout=180_000)
        # issue 17.2: the buttons follow the job's end without a reload
        expect(page.get_by_role("button", name="Start next round")).to_be_enabled(timeout=30_000)
        expect(page.get_by_role("button", name="Pause")).to_be_disabled(timeout=30_000)
        page.screenshot(path=str(SHOTS / "4-rounds-done.png"), full_page=True)
        assert [r["status"] for r in store.rounds.list(pid)] == ["done"]

        # Metrics: the new accuracy point
        go("Metrics")
        expect(page.get_by_text("Per round")).to_be_visible(timeout=30_000)
        # visible ones: the collapsed benchmark comparison holds a chart too, once its CSV exists
        chart = page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").filter(
            visible=True).first
        expect(chart).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1000)  # let vega draw before the screenshot
        accuracy = store.metrics.list(pid)[0]["accuracy"]
        assert accuracy is not None
        page.screenshot(path=str(SHOTS / "5-metrics.png"), full_page=True)

        # Export: build it in the worker, download it as one zip
        go("Export")
        page.get_by_role("button", name="Build the export").click()
        expect(page.get_by_text("exported round 0", exact=False)).to_be_visible(timeout=120_000)
        # issue 17.2: the new export and an enabled button appear without a reload
        expect(page.get_by_text("Round 0 export")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Build the export")).to_be_enabled(timeout=30_000)
        page.get_by_role("button", name="Prepare the whole export as a zip").click()
        button = page.get_by_role("button", name=re.compile(r"^Download the whole export"))
        expect(button).to_be_visible(timeout=60_000)
        target = tmp_path / "export.zip"
        for attempt in range(3):  # a click that lands while the page is still redrawing is lost: click again
            try:
                with page.expect_download(timeout=30_000) as download:
                    button.click()
                download.value.save_as(target)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        # Try the student: a worker job answers a typed question with round 0's student
        page.get_by_label("A question for the student").fill("Eva has 6 marbles. She finds 3 more. How many "
                                                             "marbles does she have?")
        page.get_by_role("button", name="Ask the student").click()
        expect(page.get_by_text("Round 0's student, asked: Eva has 6 marbles", exact=False)).to_be_visible(
            timeout=120_000)
        page.screenshot(path=str(SHOTS / "6-export.png"), full_page=True)
        browser.close()
    names = zipfile.ZipFile(target).namelist()
    assert "round-0/adapter/adapter_config.json" in names and "round-0/README.md" in names, names
    outside = {urlparse(u).hostname for u in requests} - {"127.0.0.1"}
    assert not outside, f"the page fetched from outside: {[u for u in requests if urlparse(u).hostname in outside]}"


def test_a_reviewer_stays_logged_in_through_a_refresh_and_a_deep_link(tmp_path):
    """Issue 17.3: a refresh logged the user out and showed "Page not found"; a deep link (/review) did the same;
    after a login one landed on Accounts. Now the session is a cookie whose token the store can revoke."""
    from playwright.sync_api import expect, sync_playwright

    from elad_engine.accounts import add_user
    from elad_engine.projects import create_demo_project

    ws = tmp_path / "ws"
    store = Store(ws)
    create_demo_project(store, pool=16, test=16)
    add_user(store, "ada", "a long admin password", "admin")
    add_user(store, "rev", "a long reviewer password", "reviewer")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_app(ws, ELAD_NO_WORKER="1") as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        heading = page.get_by_role("heading", level=1).first
        page.goto(url + "/review")  # a deep link, not logged in: the login form, not "Page not found"
        expect(heading).to_contain_text("Log in to ELAD Studio", timeout=60_000)
        expect(page.get_by_text("Page not found")).to_have_count(0)
        page.screenshot(path=str(SHOTS / "0-login.png"), full_page=True)
        page.get_by_label("User name").fill("rev")
        page.get_by_label("Password", exact=True).fill("a long reviewer password")
        page.get_by_role("button", name="Log in").click()
        expect(heading).to_contain_text("Review · demo", timeout=30_000)  # where the link pointed
        assert page.url.endswith("/review")
        expect(page.get_by_text("Logged in as rev (reviewer)")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1000)
        cookie = next(c for c in page.context.cookies() if c["name"] == "elad_session")
        assert cookie["sameSite"] == "Strict" and len(cookie["value"]) >= 40
        raw = b"".join(f.read_bytes() for f in ws.glob("elad.db*"))
        assert cookie["value"].encode() not in raw  # the store keeps only its hash
        page.reload()
        expect(heading).to_contain_text("Review · demo", timeout=30_000)
        expect(page.get_by_text("Logged in as rev (reviewer)")).to_be_visible(timeout=30_000)
        page.goto(url + "/metrics")  # a deep link while logged in
        expect(heading).to_contain_text("Metrics", timeout=30_000)
        expect(page.get_by_text("Logged in as rev (reviewer)")).to_be_visible(timeout=30_000)
        from elad_engine.accounts import set_active
        set_active(Store(ws), "rev", False)  # an admin deactivates rev: the open session ends at once
        page.reload()
        expect(heading).to_contain_text("Log in to ELAD Studio", timeout=30_000)
        set_active(Store(ws), "rev", True)
        page.get_by_label("User name").fill("rev")
        page.get_by_label("Password", exact=True).fill("a long reviewer password")
        page.get_by_role("button", name="Log in").click()
        expect(heading).to_contain_text("Metrics", timeout=30_000)
        page.get_by_role("button", name="Log out").click()
        expect(heading).to_contain_text("Log in to ELAD Studio", timeout=30_000)
        page.wait_for_timeout(1000)
        page.reload()  # logged out stays logged out
        expect(heading).to_contain_text("Log in to ELAD Studio", timeout=30_000)
        browser.close()
