"""Untrusted text in a real browser: questions, student steps, teacher replies and errors holding <script>, raw
HTML and markdown images or links to an outside address are shown as inert text on every page. No script
runs, no request leaves 127.0.0.1, and a sentinel API key in the app's environment appears on no page."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest

from conftest import CHROMIUM, streamlit_app
from conftest import CHROMIUM_ARGS as ARGS
from elad_engine.config import ProjectConfig
from elad_engine.method.records import Example, Explanation, StepVerdict, TeacherResult
from elad_engine.store import Store

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")
OUTSIDE = "203.0.113.9"  # TEST-NET-3: never routed
HOSTILE = (f'<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           f'![pixel](http://{OUTSIDE}/pixel.png) [click](javascript:window.__pwned=3) '
           f'<iframe src="http://{OUTSIDE}/frame"></iframe> **bold**')
KEY = "sk-RENDER-SENTINEL-5d2f81"


def hostile_workspace(ws) -> None:
    store = Store(ws)
    cfg = ProjectConfig().with_overrides(**{"review.policy": "human", "teacher.kind": "openai",
                                            "teacher.model": "m", "teacher.api_key_env": "ELAD_RENDER_KEY"})
    pid = store.projects.create("hostile", cfg)
    store.examples.add(pid, [Example(id=f"h{i}", question=f"How many? {HOSTILE}", answer="3", split=split)
                             for i, split in enumerate(["pool", "pool", "test"])], "hostile")
    steps = [f"Step with {HOSTILE}: 1 + 1 = 2", "2 + 1 = 3"]
    store.explanations.save(pid, 1, [Explanation("h0", "greedy", 0, "\n".join(steps), steps, "3",
                                                 probe_answers=[None, HOSTILE[:20], "3"])])
    store.rounds.start(pid, 1)
    store.revisions.save(pid, 1, "h0", "revision", "openai", TeacherResult(
        [StepVerdict(False, HOSTILE), StepVerdict(True, "ok")], 1, [f"Fixed {HOSTILE}: 1 + 2 = 3"], "3", 10, 5),
        f"1. Fixed {HOSTILE}: 1 + 2 = 3\nThe answer is 3.", "\n".join(steps), 0.0, "v1")
    store.revisions.save(pid, 1, "h1", "revision", "openai", TeacherResult(
        [], None, [], "", 10, 5, raw=f"not json {HOSTILE}", status="teacher_failed",
        error=f"the teacher's JSON is malformed near {HOSTILE}"), None, None, 0.0, "v1")
    store.phases.set(pid, 1, "review", "waiting")
    job = store.jobs.enqueue(pid, "rounds", {})
    store.jobs.update(job, status="failed", error=f"boom {HOSTILE}", phase="revise", progress=1, total=2)
    store.jobs.log(job, f"log line {HOSTILE}")
    store.close()


@pytest.fixture
def app(tmp_path):
    ws = tmp_path / "ws"
    hostile_workspace(ws)
    with streamlit_app(ws, ELAD_NO_WORKER="1", ELAD_RENDER_KEY=KEY) as (url, _):
        yield url


def test_hostile_text_renders_inert_on_every_page(app):
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(app + "/review")
        expect(page.get_by_text("Sample 1 of 2", exact=False)).to_be_visible(timeout=60_000)
        expect(page.get_by_text("<script>window.__pwned = 1</script>", exact=False).first).to_be_visible()
        live = "iframe, script, img, a, [onerror]"
        hostile_js = (f"els => els.map(e => e.outerHTML).filter(h => h.includes('__pwned') || h.includes('{OUTSIDE}')"
                      " || h.includes('javascript:') || h.includes('onerror')).map(h => h.slice(0, 200))")

        def snapshot() -> tuple[str, list[str]]:  # the page's HTML, and the live hostile elements it holds
            return page.content(), page.locator(live).evaluate_all(hostile_js)

        pages = {"review": snapshot()}
        page.get_by_role("button", name="Next").click()  # the teacher_failed sample: its error and raw reply
        expect(page.get_by_text("could not be used", exact=False)).to_be_visible(timeout=30_000)
        page.get_by_text("The teacher's raw replies").click()
        expect(page.get_by_text("not json <script>", exact=False).first).to_be_visible(timeout=30_000)
        pages["review-failed"] = snapshot()
        for name in ("Rounds", "Metrics", "Export", "Projects"):
            page.get_by_role("link", name=name).click()
            expect(page.get_by_role("heading", level=1).first).to_contain_text(name, timeout=30_000)
            page.wait_for_timeout(1500)
            if name == "Rounds":
                # a failed job opens its log by itself (clicking the expander would close it again)
                expect(page.get_by_text("log line <script>", exact=False).first).to_be_visible(timeout=30_000)
            pages[name] = snapshot()
        pwned = page.evaluate("window.__pwned")
        browser.close()
    assert pwned is None, f"a script from model text ran (window.__pwned = {pwned})"
    hosts = {urlparse(u).hostname for u in requests}
    assert hosts <= {"127.0.0.1"}, f"requests left the machine: {hosts}"
    for name, (html, live_elements) in pages.items():
        assert KEY not in html, f"the API key is on the {name} page"
        assert live_elements == [], f"hostile markup became live elements on the {name} page: {live_elements}"
        if name in ("review", "review-failed", "Rounds"):  # shown there as text (dataframes draw on a canvas)
            assert "&lt;script&gt;" in html, f"the text was not shown on {name}"


def test_a_sentinel_key_leaves_no_trace_after_a_full_round(tmp_path, tiny_model_dir, monkeypatch):
    """A full round through the loopback teacher with a sentinel key, then the app on that workspace with
    the key in its environment: the database file, the logs, the export and every served page lack it."""
    from playwright.sync_api import expect, sync_playwright
    from teacher_server import TeacherServer

    from conftest import tiny_project
    from elad_engine.export import export_round
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.tasks.synthetic import default_dataset

    sentinel = "sk-SENTINEL-full-round-0f3a9c"
    monkeypatch.setenv("ELAD_SENTINEL_KEY", sentinel)
    ws = tmp_path / "ws"
    store = Store(ws)
    logs: list[str] = []
    with TeacherServer(default_dataset(24, 8, seed=99), api_key=sentinel) as server:
        pid = tiny_project(store, tiny_model_dir, **{"teacher.kind": "openai", "teacher.model": server.model,
                                                     "teacher.base_url": server.base_url,
                                                     "teacher.api_key_env": "ELAD_SENTINEL_KEY"})
        assert RoundRunner(store, pid, log=logs.append).run().stop_reason == "completed"
        assert server.requests == 8
    export_round(store, pid, None, tmp_path / "export", merged=False)
    store.close()
    pages = {}
    with streamlit_app(ws, ELAD_NO_WORKER="1") as (url, proc):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(url)
            expect(page.get_by_role("heading", level=1).first).to_contain_text("Projects", timeout=60_000)
            for name in ("Projects", "Rounds", "Review", "Metrics", "Export", "Accounts"):
                page.get_by_role("link", name=name).click()
                expect(page.get_by_role("heading", level=1).first).to_contain_text(name, timeout=30_000)
                page.wait_for_timeout(1000)
                pages[name] = page.content()
            browser.close()
        proc.terminate()
        server_log = proc.communicate(timeout=10)[0].decode(errors="replace")
    assert "ELAD_SENTINEL_KEY" in pages["Projects"]  # the variable's name is shown, as it should be ...
    leaks = [name for name, html in pages.items() if sentinel in html]  # ... its value nowhere
    leaks += [str(f) for root in (ws, tmp_path / "export") for f in root.rglob("*")
              if f.is_file() and sentinel.encode() in f.read_bytes()]
    leaks += ["round log"] * any(sentinel in line for line in logs) + ["app log"] * (sentinel in server_log)
    assert leaks == []
