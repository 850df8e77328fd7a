"""The web app's pages through streamlit.testing.v1.AppTest, on a real workspace: every page renders, and its
buttons do what they say in the store (no worker is started here: ELAD_NO_WORKER)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, reviewed_workspace
from elad_engine.accounts import Role, User
from elad_engine.store import Store
from ui.project_forms import OTHER_STUDENT


@pytest.fixture(scope="module")
def reviewed_ws(tmp_path_factory, tiny_model_dir):
    return reviewed_workspace(tmp_path_factory.mktemp("app") / "ws", tiny_model_dir)


@pytest.fixture
def env(monkeypatch, reviewed_ws):
    monkeypatch.setenv("ELAD_WORKSPACE", str(reviewed_ws))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    monkeypatch.chdir(REPO)
    return reviewed_ws


def page(name: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages" / f"{name}.py"), default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def shown_revision(at: AppTest) -> int:
    caption = next(c.value for c in at.caption if c.value.startswith("Sample "))
    return int(caption.split("revision ")[1].split(" ")[0])


def test_the_app_starts_on_the_projects_page(env):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Projects"
    table = at.dataframe[0].value
    assert list(table["project"]) == ["p"] and int(table.loc[0, "pool"]) == 24


def test_projects_creates_the_demo_in_one_click(tmp_path, monkeypatch):
    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "fresh"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    at = page("projects")
    assert not at.exception and "No project yet" in at.info[0].value
    next(b for b in at.button if b.label == "Create the demo project").click().run()
    assert not at.exception
    store = Store(tmp_path / "fresh")
    assert store.examples.counts(store.projects.id_of("demo")) == {"pool": 400, "test": 400}


def import_form_on(path, tmp_path, monkeypatch) -> AppTest:
    """The Projects page of a fresh workspace, its import form pointed at `path` on the server."""
    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "fresh"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    at = page("projects")
    at.radio(key="imp-how").set_value("A path on the server").run()
    return at.text_input(key="imp-path").input(str(path)).run()


def test_projects_previews_a_bad_file_and_imports_nothing(tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q1", "answer": "1"}\n{"question": "q2", "answer": "two"}\n')
    at = import_form_on(bad, tmp_path, monkeypatch)
    at.text_input(key="imp-name").input("mine").run()
    assert not at.exception
    assert "would be refused: 1 problem" in at.error[0].value
    assert "row 2" in str(at.dataframe[0].value.iloc[0, 0])
    assert Store(tmp_path / "fresh").projects.list() == []


def test_rounds_page_shows_phases_cost_and_enqueues(env):
    at = page("rounds", project="p")
    assert not at.exception
    assert [m.label for m in at.metric] == ["Next round", "Teacher calls", "Estimated cost", "Worst case"]
    shown = at.dataframe[0].value
    assert list(shown["round"]) == [0, 1] and shown.loc[1, "review"].startswith("waiting")
    next(b for b in at.button if b.label == "Start next round").click().run()
    assert not at.exception
    jobs = Store(env).jobs.list()
    assert jobs[-1]["kind"] == "rounds" and jobs[-1]["status"] == "queued"
    Store(env).jobs.update(jobs[-1]["id"], status="cancelled")  # leave the module's workspace as it was


def test_review_page_approves_with_the_reviewer_recorded(env):
    store = Store(env)
    pending = store.revisions.list(1, 1, status="pending")
    assert pending
    at = page("review", project="p", reviewer="alice")
    assert not at.exception
    # the demo's oracle computed these revisions: the page says it is a simulated teacher, not an LLM
    assert any(i.value.startswith("Simulated teacher (oracle): this revision was computed") for i in at.info)
    first_id = shown_revision(at)
    next(b for b in at.button if b.label == "Approve").click().run()
    assert not at.exception
    assert store.revisions.get(first_id)["status"] == "approved"
    assert store.reviews.list(first_id)[-1]["reviewer"] == "alice"


def test_review_page_edit_and_reject(env):
    store = Store(env)
    at = page("review", project="p", reviewer="bob")
    rid = shown_revision(at)
    next(b for b in at.button if b.label == "Edit").click().run()
    steps = next(t for t in at.text_area if t.label == "Steps, one per line")
    steps.input("2 + 2 = 4\n4 * 3 = 12")  # form widgets: their values travel with the submit
    next(t for t in at.text_input if t.label == "Answer").input("12")
    next(b for b in at.button if b.label == "Save my version").click().run()
    assert not at.exception
    rev = store.revisions.get(rid)
    assert rev["status"] == "edited" and rev["final_text"] == "1. 2 + 2 = 4\n2. 4 * 3 = 12\nThe answer is 12."
    at = page("review", project="p", reviewer="bob")
    rid = shown_revision(at)
    next(b for b in at.button if b.label == "Reject").click().run()
    next(t for t in at.text_input if t.label.startswith("Reason")).input("off topic")
    next(b for b in at.button if b.label == "Reject this sample").click().run()
    assert store.revisions.get(rid)["status"] == "rejected" and store.reviews.list(rid)[-1]["reason"] == "off topic"


def test_metrics_and_export_pages_render(env, tmp_path, monkeypatch):
    at = page("metrics", project="p")
    assert not at.exception and at.dataframe[0].value["round"].tolist() == [0]  # round 1 waits for review
    monkeypatch.setenv("ELAD_GGUF_TOOLS", str(tmp_path / "no-tools"))  # whatever this machine has installed
    at = page("export", project="p")
    assert not at.exception
    gguf = next(c for c in at.checkbox if c.label.startswith("GGUF files and an Ollama Modelfile"))
    assert gguf.disabled and not gguf.value and "make gguf-tools" in gguf.help  # greyed, with the reason
    next(b for b in at.button if b.label == "Build the export").click().run()
    assert Store(env).jobs.list()[-1]["kind"] == "export" and Store(env).jobs.list()[-1]["args"]["gguf"] is False
    Store(env).jobs.update(Store(env).jobs.list()[-1]["id"], status="cancelled")


@pytest.mark.parametrize("name", ["projects", "rounds", "review", "metrics", "export"])
def test_every_page_renders_on_an_empty_workspace(name, tmp_path, monkeypatch):
    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "empty"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    at = page(name)
    assert not at.exception
    assert any("No project yet" in i.value for i in at.info)


@pytest.mark.parametrize("name", ["projects", "rounds", "review", "metrics", "export"])
def test_every_page_renders_on_a_fresh_demo_project(name, tmp_path, monkeypatch):
    from elad_engine.projects import create_demo_project

    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "demo"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    create_demo_project(Store(tmp_path / "demo"), pool=32, test=32)
    at = page(name, project="demo")
    assert not at.exception
    assert at.title[0].value.startswith(name.capitalize())


def test_a_decided_queue_continues_the_round(tmp_path, tiny_model_dir):
    from elad_engine.review import decisions as review

    ws = reviewed_workspace(tmp_path / "ws", tiny_model_dir)
    store = Store(ws)
    store.jobs.enqueue(1, "rounds", {"max_rounds": 1})
    store.jobs.update(1, status="done")
    pending = store.revisions.list(1, 1, status="pending")
    assert review.continue_if_decided(store, 1, 1) is None  # undecided revisions remain
    review.bulk_approve(store, [r["id"] for r in pending[:-1]], "eve")
    assert review.continue_if_decided(store, 1, 1) is None
    review.decide(store, pending[-1]["id"], "reject", "eve", reason="no")
    job = review.continue_if_decided(store, 1, 1)
    assert store.jobs.get(job)["status"] == "queued" and store.jobs.get(job)["args"] == {"max_rounds": 1}


def test_with_accounts_only_the_login_page_shows_and_roles_limit_the_buttons(tmp_path, monkeypatch):
    from elad_engine.accounts import add_user
    from elad_engine.projects import create_demo_project

    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "acc"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    store = Store(tmp_path / "acc")
    create_demo_project(store, pool=32, test=32)
    add_user(store, "ada", "a long admin password", "admin")
    add_user(store, "val", "a long viewer password", "viewer")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Log in to ELAD Studio"  # nothing else until a login
    at.text_input[0].input("val")
    at.text_input[1].input("wrong password!")
    at.button[0].click().run()
    assert "unknown user or wrong password" in at.error[0].value
    at.text_input[1].input("a long viewer password")
    at.button[0].click().run()
    assert not at.exception and "Logged in as **val** (viewer)" in [c.value for c in at.sidebar.caption]
    assert at.title[0].value == "Projects"  # the page the URL names (here the default) runs once logged in
    rounds = page("rounds", project="demo", user=User("val", Role.VIEWER))
    assert all(b.disabled for b in rounds.button if b.label in ("Start next round", "Run all remaining rounds"))
    admin = page("rounds", project="demo", user=User("ada", Role.ADMIN))
    assert not next(b for b in admin.button if b.label == "Start next round").disabled


def test_engine_entry_points_check_the_role(tmp_path):
    from elad_engine.accounts import AccessDenied
    from elad_engine.service import Studio

    store = Store(tmp_path / "ws")
    viewer, reviewer = Studio(store, User("v", Role.VIEWER)), Studio(store, User("r", Role.REVIEWER))
    with pytest.raises(AccessDenied):
        reviewer.projects.create_demo(pool=16, test=16)
    pid = Studio(store, User.single_user()).projects.create_demo(pool=16, test=16)
    with pytest.raises(AccessDenied, match="only admin may run"):
        reviewer.rounds.start(pid)
    with pytest.raises(AccessDenied, match="may review"):
        viewer.review.decide(1, "approve")
    with pytest.raises(AccessDenied, match="may configure"):
        reviewer.projects.save_settings(pid, store.projects.config(pid).with_overrides(**{"rounds.rounds": 9}))
    with pytest.raises(AccessDenied, match="may run"):
        viewer.rounds.close_review(pid, 1)
    assert store.projects.config(pid).rounds.rounds == 3
    assert store.jobs.list(pid) == []


def test_accounts_page_creates_the_first_admin_then_admins_add_users(tmp_path, monkeypatch):
    from elad_engine.accounts import authenticate

    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "acc"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    at = page("accounts")
    assert not at.exception and "has no accounts" in at.info[0].value
    at.text_input[0].input("ada")
    at.text_input[1].input("short")
    at.button[0].click().run()
    assert "too short" in at.code[0].value and Store(tmp_path / "acc").users.list() == []
    at.text_input[1].input("a long admin password")
    at.button[0].click().run()
    assert not at.exception and Store(tmp_path / "acc").users.list() == [{"name": "ada", "role": "admin", "active": 1}]
    at = page("accounts", user=User("ada", Role.ADMIN))
    at.text_input[0].input("rev")
    at.text_input[1].input("a long reviewer password")
    at.button[0].click().run()
    assert authenticate(Store(tmp_path / "acc"), "rev", "a long reviewer password").role == "reviewer"
    viewer_view = page("accounts", user=User("rev", Role.REVIEWER))
    assert not viewer_view.exception and len(viewer_view.button) == 0  # only admins add users


def test_metrics_page_loads_the_efficiency_benchmark_csv(env, tmp_path):
    good = tmp_path / "efficiency.csv"
    good.write_text("strategy,annotation,seed,round,accuracy,multi_step,prompt_tokens,completion_tokens\n"
                    "elad,revision,0,0,0.4,0.3,100,50\nelad,revision,1,0,0.6,0.5,100,70\n"
                    "random,full,0,0,0.5,0.4,90,40\n")
    at = page("metrics", project="p")
    at.text_input[0].input(str(good)).run()
    assert not at.exception and not at.error
    bad = tmp_path / "bad.csv"
    bad.write_text("strategy,round\nelad,0\n")
    at.text_input[0].input(str(bad)).run()
    assert "cannot be shown" in at.error[0].value and "lacks the column(s) annotation" in at.code[0].value


def test_benchmark_curves_average_over_seeds(tmp_path):
    from elad_engine.metrics import benchmark_curves

    f = tmp_path / "e.csv"
    f.write_text("strategy,annotation,seed,round,accuracy,prompt_tokens,completion_tokens\n"
                 "elad,revision,0,1,0.4,1,50\nelad,revision,1,1,0.6,1,70\n")
    (curve,) = benchmark_curves(f)
    assert curve["series"] == "elad + revision" and curve["seeds"] == 2 and curve["completion_tokens"] == 60.0
    # the 95% band of the mean of 0.4 and 0.6: 0.5 +- 12.706 * 0.1414 / sqrt(2)
    assert curve["accuracy"] == pytest.approx(0.5) and curve["high"] - 0.5 == pytest.approx(1.2706, rel=1e-3)
    assert curve["low"] == pytest.approx(0.5 - 1.2706, rel=1e-3)


def test_review_page_asks_the_teacher_again_about_a_failed_sample(tmp_path, tiny_model_dir, monkeypatch):
    from elad_engine.method.records import TeacherResult

    ws = reviewed_workspace(tmp_path / "ws", tiny_model_dir)
    store = Store(ws)
    example = store.examples.list(1, split="pool")[-1]
    failed = TeacherResult([], None, [], "", 10, 3, raw="{not json", status="teacher_failed", error="bad JSON",
                           replies=["{not json", "{still not"])
    rid = store.revisions.save(1, 1, example.id, "revision", "openai", failed, None, None, 0.0, "v")
    monkeypatch.setenv("ELAD_WORKSPACE", str(ws))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    at = page("review", project="p", reviewer="rev", rv_failed=True)
    assert not at.exception and shown_revision(at) == rid
    next(b for b in at.button if b.label == "Ask the teacher again").click().run()
    assert not at.exception
    job = store.jobs.list(1, "reask")[-1]
    assert job["args"] == {"revision_id": rid} and job["status"] == "queued"


def test_projects_imports_a_multiple_choice_preset_with_its_choices_shown(tmp_path, monkeypatch):
    at = import_form_on(REPO / "tests/data/presets/aqua_dev.json", tmp_path, monkeypatch)
    at.text_input(key="imp-name").input("aqua").run()
    at.selectbox(key="imp-preset").set_value("aqua").run()
    assert not at.exception
    assert at.selectbox(key="imp-atype-preset").value == "choice" and at.text_input(key="imp-over-c").value == ""
    preview = next(d.value for d in at.dataframe if "choices" in d.value.columns)
    assert preview.loc[0, "choices"] == "32400 | 6000 | 600 | 60000 | 10" and preview.loc[0, "answer"] == "A"
    next(b for b in at.button if b.label == "Import").click().run()
    store = Store(tmp_path / "fresh")
    pid = store.projects.id_of("aqua")
    assert sum(store.examples.counts(pid).values()) == 3
    assert store.projects.config(pid).task.answer_type == "choice"


def test_projects_import_form_maps_a_template_and_a_label_map(tmp_path, monkeypatch):
    path = tmp_path / "b.json"
    path.write_text('[{"Body": "Sky is blue.", "Q": "Is it?", "A": true}, {"Body": "Fire.", "Q": "Cold?", "A": false}]')
    at = import_form_on(path, tmp_path, monkeypatch)
    at.text_input(key="imp-q").input("{Body} {Q}").run()
    at.text_input(key="imp-a").input("A").run()
    assert "every answer is a boolean" in " ".join(str(v) for v in at.dataframe[-1].value["problem"])
    at.selectbox(key="imp-atype").set_value("label").run()
    at.text_input(key="imp-lm").input("true=yes,false=no").run()
    assert not at.exception
    preview = at.dataframe[-1].value
    assert list(preview["question"]) == ["Sky is blue. Is it?", "Fire. Cold?"] and list(preview["answer"]) == \
        ["yes", "no"]


def test_an_import_in_the_whole_app_selects_the_new_project_without_an_error(tmp_path, monkeypatch):
    """Issue 17.1: the import used to set the sidebar picker's key after the picker was drawn (a red
    StreamlitAPIException under the success message) and the new project was missing until a reload."""
    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "fresh"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    store = Store(tmp_path / "fresh")
    from conftest import tiny_project
    tiny_project(store, REPO / "data" / "tiny-student", name="first")  # so the sidebar draws its picker
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.radio(key="imp-how").set_value("A path on the server").run()
    at.text_input(key="imp-path").input(str(REPO / "tests/data/presets/gsm8k_test.jsonl")).run()
    at.text_input(key="imp-name").input("gsm").run()
    at.selectbox(key="imp-preset").set_value("gsm8k").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["project"] == "gsm" and at.selectbox(key="project").value == "gsm"
    assert "Settings · gsm" in [s.value for s in at.subheader]


def test_the_settings_say_what_the_teacher_is_billed_at_and_list_no_dead_oracle_row(env):
    """Issue 17.8: the price table had an 'oracle' row of 0/0 that did nothing (the oracle is priced through
    teacher.price_as, which the page did not say)."""
    at = page("projects")
    assert not at.exception
    prices = next(d.value for d in at.dataframe if "prompt $/M" in d.value.columns)
    assert "oracle" not in list(prices["model"])
    assert ("This teacher is billed at $0.15 per million prompt tokens and $0.6 per million completion tokens: the "
            "simulated oracle teacher is priced as the table's `gpt-4o-mini` entry (teacher.price_as), so its cost "
            "compares with an LLM's; nothing is paid.") in [c.value for c in at.caption]


def test_settings_are_labelled_in_words_with_the_config_key_as_help(env):
    """Issue 17.11: raw config keys (rounds.budget_tokens) as labels, and "0" meaning "no budget" unexplained."""
    at = page("projects")
    budget = at.number_input(key="cfg-1-rounds.budget_tokens")
    assert budget.label == "Teacher token budget (0: no limit)" and "config key `rounds.budget_tokens`" in budget.help
    assert not [w.label for w in at.number_input if "." in w.label and " " not in w.label]  # no bare keys left


def test_tables_refresh_after_a_save_and_no_password_stays_in_the_form(tmp_path, monkeypatch):
    """Issue 17.7: the Projects table kept the old settings after "Saved", and the Accounts table missed a new user,
    whose password stayed in the form."""
    from conftest import tiny_project
    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    store = Store(tmp_path / "ws")
    pid = tiny_project(store, REPO / "data" / "tiny-student", name="p")
    at = page("projects")
    at.selectbox(key=f"cfg-{pid}-selection.strategy").set_value("random")
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception and "Saved." in [s.value for s in at.success]
    assert at.dataframe[0].value.loc[0, "strategy"] == "random"  # the table above the form, this very run
    store.users.add("ada", "a long admin password", "admin")
    at = page("accounts", user=User("ada", Role.ADMIN))
    at.text_input[0].input("rev")
    at.text_input[1].input("a long reviewer password")
    at.button[0].click().run()
    assert not at.exception and "Added reviewer 'rev'." in [s.value for s in at.success]
    assert list(at.dataframe[0].value["user"]) == ["ada", "rev"]
    assert at.text_input[1].value == "" and at.text_input[0].value == ""


def test_only_exporters_download_or_see_server_paths_and_a_queued_export_says_what_it_waits_for(tmp_path,
                                                                                                monkeypatch):
    """Issues 17.6 and 17.10: a reviewer could download the merged model and the approved data and saw server paths;
    an export queued behind a running round said nothing; downloads read whole files on every rerun."""
    from conftest import tiny_project
    from elad_engine.export import export_round
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.states import JobKind
    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    store = Store(tmp_path / "ws")
    pid = tiny_project(store, REPO / "data" / "tiny-student", name="p")
    RoundRunner(store, pid).run(max_rounds=1)
    folder = export_round(store, pid, 0, merged=False)["folder"]
    store.users.add("ada", "a long admin password", "admin")
    store.users.add("rev", "a long reviewer password", "reviewer")
    seen = page("export", user=User("rev", Role.REVIEWER), project="p")
    assert not seen.exception and not seen.get("download_button")
    assert not [t for t in seen.text if str(folder) in t.value] and "needs the export permission" in " ".join(
        c.value for c in seen.caption)
    rounds = store.jobs.enqueue(pid, JobKind.ROUNDS)
    store.jobs.update(rounds, status="running")
    store.jobs.enqueue(pid, JobKind.EXPORT, {"round": 0, "merged": False})
    admin = page("export", user=User("ada", Role.ADMIN), project="p")
    assert not admin.exception and len(admin.get("download_button")) >= 2
    assert any(str(folder) in t.value for t in admin.text)
    assert f"It waits for the running round job {rounds} to finish" in " ".join(i.value for i in admin.info)


def test_the_review_page_says_who_holds_samples_and_an_admin_releases_them(tmp_path, tiny_model_dir, monkeypatch):
    """Issue 17.5: with two samples held by a reviewer who closed the tab, the page read "0 in this view" and "The
    queue of this view is empty" with no word of who held them or for how long."""
    from elad_engine.review.queue import CLAIM_TTL_S
    ws = reviewed_workspace(tmp_path / "ws", tiny_model_dir)
    monkeypatch.setenv("ELAD_WORKSPACE", str(ws))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    store = Store(ws)
    pending = [r["id"] for r in store.revisions.list(1, 1, status="pending")]
    for rid in pending[:2]:
        assert store.claims.claim([rid], "bob", CLAIM_TTL_S) == rid  # bob opened two samples, then left
    store.users.add("ada", "a long admin password", "admin")
    at = page("review", project="p", user=User("ada", Role.ADMIN))
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "2 undecided sample(s) of this round are held by other reviewers" in warning and "bob holds 2" in warning
    assert f"free again in {CLAIM_TTL_S / 60:.0f} min" in warning
    next(b for b in at.button if b.label == "Release these claims").click().run()
    assert not at.exception and not [c for c in store.claims.of_round(1, 1) if c["reviewer"] == "bob"]
    viewer = page("review", project="p", user=User("rev", Role.REVIEWER))
    assert not [b for b in viewer.button if b.label == "Release these claims"]  # only admins release


def test_an_admin_changes_a_role_resets_a_password_and_deactivates_a_user_on_the_accounts_page(tmp_path, monkeypatch):
    """Issue 17.3, user management: change role, reset password, deactivate (their sessions end) and reactivate."""
    from elad_engine.accounts import authenticate, open_session, resume_session

    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "acc"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    store = Store(tmp_path / "acc")
    from elad_engine.accounts import add_user
    add_user(store, "ada", "a long admin password", "admin")
    add_user(store, "rev", "a long reviewer password", "reviewer")
    token = open_session(store, User("rev", Role.REVIEWER))
    at = page("accounts", user=User("ada", Role.ADMIN))
    at.selectbox(key="manage-user").set_value("rev").run()
    at.selectbox(key="manage-role-rev").set_value("viewer")  # in a form: sent with its submit button
    next(b for b in at.button if b.label == "Change the role").click().run()
    assert not at.exception
    assert "rev's role is now viewer; it counts from their next click." in [s.value for s in at.success]
    assert list(at.dataframe[0].value["role"]) == ["admin", "viewer"]
    assert resume_session(store, token) == User("rev", Role.VIEWER)
    at.text_input(key="manage-pw").input("short")
    next(b for b in at.button if b.label == "Reset the password").click().run()
    assert "too short" in at.code[0].value
    at.text_input(key="manage-pw").input("a brand new password")
    next(b for b in at.button if b.label == "Reset the password").click().run()
    assert "rev's password was reset; 1 open session(s) ended, so they log in again." in [s.value for s in at.success]
    assert at.text_input(key="manage-pw").value == "" and resume_session(store, token) is None
    assert authenticate(store, "rev", "a brand new password").name == "rev"
    at.button(key="manage-deactivate").click().run()
    assert "rev is deactivated; 0 open session(s) ended." in [s.value for s in at.success]
    assert list(at.dataframe[0].value["status"]) == ["active", "deactivated"]
    at.button(key="manage-reactivate").click().run()
    assert list(at.dataframe[0].value["status"]) == ["active", "active"]
    at.selectbox(key="manage-user").set_value("ada").run()
    assert at.button(key="manage-deactivate").disabled  # not yourself
    at.selectbox(key="manage-role-ada").set_value("reviewer")
    next(b for b in at.button if b.label == "Change the role").click().run()
    assert "only active admin" in at.code[0].value and store.users.get("ada")["role"] == "admin"


def test_review_table_search_bulk_reject_undo_guidelines_and_shortcut_help(tiny_model_dir, tmp_path, monkeypatch):
    """Issue 17, review all day: a searchable table of the view whose picked rows are rejected with one reason; undo
    of one's own last decision; the project's guidelines above the sample with images turned into links."""
    from conftest import reviewed_workspace
    ws = reviewed_workspace(tmp_path / "ws", tiny_model_dir)  # its own: the module's workspace is decided by now
    monkeypatch.setenv("ELAD_WORKSPACE", str(ws))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    store = Store(ws)
    pid = store.projects.id_of("p")
    store.projects.set_guidelines(pid, "Reject skipped steps. ![tracker](http://example.com/t.png)")
    at = page("review", project="p", reviewer="dana")
    assert not at.exception
    assert "Reject skipped steps. [tracker](http://example.com/t.png)" in [m.value for m in at.markdown]
    shortcuts = at.table[0].value  # the keyboard-shortcut help
    assert list(shortcuts.index) == ["A", "E", "X", "S", "J", "K", "U"]
    assert shortcuts.loc["U", "does"].startswith("undo")
    table = next(d.value for d in at.dataframe if "question" in d.value.columns)
    assert list(table.columns) == ["revision", "question", "status", "uncertainty", "revised answer", "gold",
                                   "matches gold", "decided by"]
    word = table.loc[0, "question"].split()[-1]
    at.text_input(key="rv_search").input(word).run()
    searched = next(d.value for d in at.dataframe if "question" in d.value.columns)
    assert 0 < len(searched) <= len(table) and all(word.lower() in q.lower() for q in searched["question"])
    at.text_input(key="rv_search").input("").run()
    at.session_state["rv_table-1"] = {"selection": {"rows": [0, 1], "columns": []}}
    at.run()
    picked = [int(v) for v in table["revision"][:2]]
    at.text_input(key="rv_bulk_reason").input("the chain skips a step").run()
    next(b for b in at.button if b.label == "Reject them").click().run()
    assert not at.exception
    assert [store.revisions.get(r)["status"] for r in picked] == ["rejected", "rejected"]
    mine = [r for r in store.reviews.of_project(pid) if r["reviewer"] == "dana"]
    assert [r["reason"] for r in mine] == ["the chain skips a step"] * 2
    undo = next(b for b in at.button if b.label.startswith("Undo my last decision (reject of revision"))
    undo.click().run()
    assert not at.exception
    assert sorted(store.revisions.get(r)["status"] for r in picked) == ["pending", "rejected"]
    assert [r["action"] for r in store.reviews.of_project(pid, effective=False) if r["reviewer"] == "dana"] == [
        "reject", "reject", "undo"]


def test_metrics_show_the_starting_student_training_runs_loss_curves_and_readable_columns(env):
    """Issue 17, training and metrics at a glance: the pre-warm-up baseline, a per-round training table with its
    loss curve, column names in words."""
    at = page("metrics", project="p")
    assert not at.exception
    assert "Dashed: the starting student's test accuracy, before the warm-up trained it." in [
        c.value for c in at.caption]
    per_round = at.dataframe[0].value
    assert {"multi-step accuracy", "completion tokens", "cost ($)"} <= set(per_round.columns)
    assert "multi_step" not in per_round.columns
    training = next(d.value for d in at.dataframe if "final loss" in d.value.columns)
    run = Store(env).training_runs.get(Store(env).projects.id_of("p"), 0)
    assert training.loc[0, "steps"] == run["steps"] and training.loc[0, "samples"] == run["samples"]
    assert len(at.get("vega_lite_chart")) >= 5  # three accuracy plots, the loss curve, the histogram


def test_the_rounds_page_draws_the_live_loss_curve_while_a_round_trains(env):
    store = Store(env)
    pid = store.projects.id_of("p")
    job = store.jobs.enqueue(pid, "rounds", {"max_rounds": None})
    store.jobs.update(job, status="running", phase="train", progress=3, total=10)
    store.training_runs.start_losses(pid, 1)
    store.training_runs.add_losses(pid, 1, [(1, 2.5), (2, 2.1), (3, 1.9)])
    try:
        at = page("rounds", project="p")
        assert not at.exception
        assert at.get("vega_lite_chart"), "no live loss chart"
    finally:
        store.jobs.update(job, status="cancelled")
        store.training_runs.start_losses(pid, 1)


def test_try_the_student_answers_a_typed_question_in_a_worker_job(tiny_model_dir, tmp_path, monkeypatch):
    """Issue 17: "Try the student" on the Export page: a worker job answers with a round's student, shown with steps."""
    from conftest import reviewed_workspace
    from elad_engine.jobs.worker import run_worker

    ws = reviewed_workspace(tmp_path / "ws", tiny_model_dir)
    monkeypatch.setenv("ELAD_WORKSPACE", str(ws))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    at = page("export", project="p")
    next(b for b in at.button if b.label == "Ask the student").click().run()
    assert "Type a question for the student to answer." in at.code[0].value  # nothing queued
    store = Store(ws)
    assert store.jobs.list(kind="try") == []
    at.text_area[0].input("Eva has 6 marbles. She finds 3 more. How many marbles does she have?")
    next(b for b in at.button if b.label == "Ask the student").click().run()
    assert not at.exception
    job = store.jobs.list(kind="try")[-1]
    assert job["status"] == "queued" and job["args"]["round"] == 0
    assert any("is thinking" in i.value for i in at.info)
    assert run_worker(ws, once=True) == 1
    done = store.jobs.get(job["id"])
    assert done["status"] == "done", done["error"]
    result = done["result"]
    assert result["question"].startswith("Eva has 6 marbles") and isinstance(result["steps"], list)
    assert done["message"].startswith("round 0's student answered: ")
    at = page("export", project="p")
    assert not at.exception
    assert "Round 0's student, asked: Eva has 6 marbles. She finds 3 more. How many marbles does she have?" in [
        c.value for c in at.caption]
    shown = [t.value for t in at.text]
    assert any(line.startswith("1. ") or line == "(no steps)" for line in shown)
    with pytest.raises(Exception, match="has no trained student yet"):
        from elad_engine.service import Studio
        Studio(store, User("ada", Role.ADMIN)).exports.try_student(store.projects.id_of("p"), 5, "anything")


def test_the_guided_setup_walks_dataset_student_teacher_budgets_and_creates_the_project(tmp_path, monkeypatch,
                                                                                       tiny_pretrained_dir):
    """Issue 17: the guided "New project" flow: the file's columns as pick lists with the suggested preset, the
    parsed preview, the student's size and device, the teacher, the budgets with what a round costs."""
    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "fresh"))
    monkeypatch.setenv("ELAD_NO_WORKER", "1")
    at = page("projects")
    at.radio(key="setup-how").set_value("A path on the server").run()
    rows = json.loads((REPO / "tests/data/presets/SVAMP.json").read_text())  # SVAMP's layout, 30 rows
    svamp = tmp_path / "SVAMP.json"
    svamp.write_text(json.dumps([{**rows[i % 3], "ID": f"chal-{i}"} for i in range(30)]))
    at.text_input(key="setup-path").input(str(svamp)).run()
    assert not at.exception
    assert any(c.value.startswith("Columns found: ID, Body, Question, Equation, Answer, Type") for c in at.caption)
    assert at.selectbox(key="setup-preset").value == "svamp"  # suggested by its columns
    assert any("rows parse cleanly" in s.value for s in at.success)
    nxt = next(b for b in at.button if b.label == "Next: student")
    assert nxt.disabled  # no name yet
    at.selectbox(key="setup-preset").set_value("(map the columns myself)").run()
    assert at.selectbox(key="setup-q").value == "(a template over several columns)"
    assert at.text_input(key="setup-qt").value == "{Body} {Question}" and at.selectbox(key="setup-a").value == "Answer"
    assert set(at.selectbox(key="setup-c").options) >= {"(none)", "ID", "Body", "Question", "Equation"}
    at.selectbox(key="setup-preset").set_value("svamp").run()
    at.text_input(key="setup-name").input("svamp").run()
    next(b for b in at.button if b.label == "Next: student").click().run()
    assert not at.exception and "Step 2 of 4: Student" in at.get("progress")[0].proto.text
    options = at.selectbox(key="setup-student").options
    assert options[0].startswith("SmolLM2-135M-Instruct (real, 135M): install and register it")  # pretrained first
    assert options[-2].startswith("Tiny demo student: for the embedded arithmetic task only")
    at.selectbox(key="setup-student").set_value("bundled:tiny-student").run()
    assert [m.label for m in at.metric] == ["Parameters", "On disk", "Architecture"]
    assert at.metric[0].value == "3.3 M" and at.metric[2].value == "GPT2LMHeadModel"
    assert any(c.value.startswith("Rounds run on: cpu") or c.value.startswith("Rounds run on: cuda")
               for c in at.caption)
    assert any("built for the embedded arithmetic task only" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Next: teacher").click().run()
    assert at.radio(key="setup-tkind").value == "reference"  # the default for a dataset of one's own
    at.radio(key="setup-tkind").set_value("openai").run()
    assert next(b for b in at.button if b.label == "Next: strategy and budgets").disabled  # no endpoint yet
    at.radio(key="setup-tkind").set_value("oracle").run()
    next(b for b in at.button if b.label == "Next: strategy and budgets").click().run()
    assert not at.exception
    at.number_input(key="setup-selection.round_budget").set_value(16).run()
    cost = next(d.value for d in at.dataframe if "teacher calls" in d.value.columns)
    assert list(cost[""]) == ["the warm-up", "one round", "warm-up + 3 rounds"]
    assert 0 < int(cost.loc[1, "teacher calls"]) <= 16  # the round budget, or the whole pool of this small file
    assert float(cost.loc[1, "worst case $"]) >= float(cost.loc[1, "typical $"]) > 0
    # the demo student and the oracle on SVAMP: refused before anything is created, each misfit named
    assert any("The fit check refuses this project" in e.value for e in at.error)
    refusal = next(c.value for c in at.code if "[demo-student]" in c.value)
    assert "[oracle-without-chains]" in refusal
    assert next(b for b in at.button if b.label == "Create the project 'svamp'").disabled
    assert not Store(tmp_path / "fresh").projects.list()
    # a pretrained student (a model folder on the server) and the reference teacher fit
    next(b for b in at.button if b.label == "Back").click().run()
    at.radio(key="setup-tkind").set_value("reference").run()
    next(b for b in at.button if b.label == "Back").click().run()
    at.selectbox(key="setup-student").set_value(OTHER_STUDENT).run()
    at.text_input(key="setup-student-path").input(str(tiny_pretrained_dir)).run()
    assert at.metric[2].value == "LlamaForCausalLM"
    next(b for b in at.button if b.label == "Next: teacher").click().run()
    next(b for b in at.button if b.label == "Next: strategy and budgets").click().run()
    assert "Fit check: the student, the teacher and the data fit together." in [c.value for c in at.caption]
    at.number_input(key="setup-selection.round_budget").set_value(16).run()
    next(b for b in at.button if b.label == "Create the project 'svamp'").click().run()
    assert not at.exception
    store = Store(tmp_path / "fresh")
    pid = store.projects.id_of("svamp")
    cfg = store.projects.config(pid)
    assert cfg.task.dataset == "svamp" and cfg.selection.round_budget == 16 and cfg.teacher.kind == "reference"
    assert cfg.student.path == str(tiny_pretrained_dir) and cfg.training.learning_rate == 2e-4  # a pretrained one's
    assert cfg.training.gradient_checkpointing  # a pretrained student's training recomputes its activations
    assert sum(store.examples.counts(pid).values()) == 30
    assert "Created 'svamp' with" in at.success[0].value


def test_two_sessions_have_their_own_connections_and_never_read_each_others_open_transaction(tmp_path, monkeypatch):
    """Issue 18: every browser session shared one cached connection, with reads outside its lock, so one session
    could read another's uncommitted write."""
    import threading

    from elad_engine.config import ProjectConfig
    from ui import engine

    monkeypatch.setenv("ELAD_WORKSPACE", str(tmp_path / "ws"))
    Store(tmp_path / "ws")
    opened, seen = threading.Event(), {}
    commit, done = threading.Event(), threading.Event()

    def writer():
        ws = engine.workspace()
        seen["writer"] = ws
        with ws.transaction():
            ws.projects.create("half-done", ProjectConfig())
            opened.set()
            commit.wait(10)
        done.set()

    def reader():
        ws = engine.workspace()
        seen["reader"] = ws
        opened.wait(10)
        seen["during"] = [p["name"] for p in ws.projects.list()]
        commit.set()
        done.wait(10)
        seen["after"] = [p["name"] for p in ws.projects.list()]
        seen["same-thread-reuses"] = engine.workspace() is ws

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen["writer"] is not seen["reader"]
    assert seen["during"] == [] and seen["after"] == ["half-done"] and seen["same-thread-reuses"]
