"""The OpenAI-compatible teacher against a real HTTP server on 127.0.0.1 (tests/teacher_server.py): revisions
through a round, retries, JSON repair, the request cache, the budget, the ledger, and the key kept secret."""

from __future__ import annotations

import time

import pytest
from teacher_server import TeacherServer

from conftest import tiny_project
from elad_engine.accounts import Role
from elad_engine.config import TeacherConfig
from elad_engine.errors import BudgetExceeded, StoreError, TeacherUnavailable
from elad_engine.method.cost import Budget
from elad_engine.method.revision import assembled_text
from elad_engine.rounds.loop import RoundRunner
from elad_engine.store import Store
from elad_engine.tasks.synthetic import default_dataset, solution_steps
from elad_engine.teachers.dispatch import Ledger, run_requests
from elad_engine.teachers.openai_compat import (
    OpenAICompatTeacher,
    backoff_seconds,
    check_connection,
    retry_after_seconds,
)
from elad_engine.teachers.oracle import OracleTeacher
from elad_engine.teachers.protocol import build_request

KEY = "sk-SENTINEL-4b1d9c0e7f"
EXAMPLES = default_dataset(24, 8, seed=99)  # what tiny_project imports


@pytest.fixture
def server():
    with TeacherServer(EXAMPLES, api_key=KEY) as s:
        yield s


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("ELAD_TEST_KEY", KEY)


def teacher_cfg(server, **kw) -> TeacherConfig:
    values = dict(kind="openai", model=server.model, base_url=server.base_url, api_key_env="ELAD_TEST_KEY",
                  timeout_s=1.0, max_retries=4, concurrency=4)
    values.update(kw)
    cfg = TeacherConfig(**values)
    cfg.validate("teacher")
    return cfg


def wrong_steps(example):
    """The oracle's steps with the last result off by one: a revision from the last step."""
    steps = solution_steps(example.meta)
    last = steps[-1]
    head, _, result = last.rpartition("= ")
    return steps[:-1] + [f"{head}= {int(result) + 1}"], str(int(result) + 1)


def dispatch(store, pid, cfg: TeacherConfig, examples, budget: Budget | None = None):
    """Revise `examples` (student steps wrong at the last step) through the real dispatch path."""
    budget = budget or Budget()
    requests = [build_request(e, "revision", *wrong_steps(e), cfg.show_gold) for e in examples]
    results = {}
    ledger = Ledger(store, pid, 1, budget, cfg.price(), cfg.model)
    run_requests(OpenAICompatTeacher(cfg), requests, ledger, cfg.max_tokens,
                 lambda req, res: results.__setitem__(req.example.id, (req, res)))
    return results


@pytest.fixture
def project(tmp_path, tiny_model_dir):
    store = Store(tmp_path / "ws")
    return store, tiny_project(store, tiny_model_dir)


# --- helpers ---------------------------------------------------------------------------------------------------

def test_retry_after_parsing_and_backoff():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= retry_after_seconds({"retry-after": date}) <= 31
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None
    waits = [backoff_seconds(a) for a in range(8) for _ in range(20)]
    assert all(0 <= w <= 30 for w in waits) and max(waits) > 4  # grows, capped, jittered
    assert len(set(waits)) > 100


# --- correct answers, ledger, cache ----------------------------------------------------------------------------

def test_revisions_equal_the_oracle_and_the_ledger_equals_usage(project, server, keyed):
    store, pid = project
    cfg = teacher_cfg(server)
    pool = [e for e in EXAMPLES if e.split == "pool"][:8]
    results = dispatch(store, pid, cfg, pool)
    oracle = OracleTeacher()
    for e in pool:
        req, res = results[e.id]
        assert res.status == "ok", res.error
        expected = oracle.revise(e, req.steps, req.answer)
        assert assembled_text(req.steps, res) == assembled_text(req.steps, expected)
        assert res.first_error == len(req.steps)  # the last step was the wrong one
    spend = store.teacher_calls.spend(pid)
    assert spend["calls"] == 8 == server.requests
    assert (spend["prompt_tokens"], spend["completion_tokens"]) == (server.prompt_tokens, server.completion_tokens)
    assert max(server.served.values()) == 1
    # a second identical run is answered from the request cache: no call reaches the server, nothing is paid
    again = dispatch(store, pid, cfg, pool)
    assert server.requests == 8 and all(r.status == "ok" for _, r in again.values())
    again = store.teacher_calls.spend(pid)
    assert again["calls"] == 8 and again["cached_calls"] == 0  # same project: no new rows
    other = store.projects.create("other", store.projects.config(pid))
    dispatch(store, other, cfg, pool)
    assert server.requests == 8
    other_spend = store.teacher_calls.spend(other)  # another project on the same data: cached, recorded, not paid
    assert (other_spend["calls"], other_spend["cost_usd"], other_spend["cached_calls"]) == (0, 0, 8)


def test_a_round_revises_through_the_endpoint_and_the_key_leaks_nowhere(tmp_path, tiny_model_dir, server, keyed):
    from elad_engine.export import export_round

    store = Store(tmp_path / "ws")
    pid = tiny_project(store, tiny_model_dir, **{"teacher.kind": "openai", "teacher.model": server.model,
                                                 "teacher.base_url": server.base_url,
                                                 "teacher.api_key_env": "ELAD_TEST_KEY", "teacher.timeout_s": 5.0})
    logs = []
    outcome = RoundRunner(store, pid, log=logs.append).run()
    assert outcome.stop_reason == "completed", outcome.message
    revisions = store.revisions.list(pid)
    assert len(revisions) == 8 and all(r["status"] == "approved" for r in revisions)  # 4 warm-up + 4 in round 1
    assert all(r["prompt_version"] for r in revisions)
    assert server.requests == 8 and max(server.served.values()) == 1
    spend = store.teacher_calls.spend(pid)
    assert (spend["prompt_tokens"], spend["completion_tokens"]) == (server.prompt_tokens, server.completion_tokens)
    assert all(h.get("authorization") == f"Bearer {KEY}" for h in server.headers_seen)  # the key was used ...
    out = export_round(store, pid, None, tmp_path / "export", merged=False)
    store.close()
    leaked = [str(p) for root in (tmp_path / "ws", tmp_path / "export") for p in root.rglob("*")
              if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == [] and not any(KEY in line for line in logs)  # ... and is stored nowhere
    assert out


# --- faults ----------------------------------------------------------------------------------------------------

def test_429_500_and_timeouts_are_retried_and_retry_after_is_honoured(project, keyed):
    store, pid = project
    with TeacherServer(EXAMPLES, api_key=KEY, retry_after="1", hang_s=1.5) as server:
        server.faults += ["429", "500", "timeout", "500"]
        cfg = teacher_cfg(server, concurrency=1)
        results = dispatch(store, pid, cfg, [e for e in EXAMPLES if e.split == "pool"][:2])
    assert all(r.status == "ok" for _, r in results.values())
    outcomes = [o for _, o in server.events]
    assert outcomes[:5] == ["429", "500", "timeout", "500", "ok"] and server.requests == 6
    assert server.events[1][0] - server.events[0][0] >= 0.95  # waited for Retry-After: 1
    spend = store.teacher_calls.spend(pid)
    assert max(server.served.values()) == 1 and spend["calls"] == 2  # refused attempts are not billed, but
    assert spend["timeouts"] == 1  # the timed-out one may have been: it keeps its worst case in the ledger
    worst = OpenAICompatTeacher(cfg).worst_prompt_tokens(build_request(EXAMPLES[0], "revision", *wrong_steps(
        EXAMPLES[0]), False).messages) + cfg.max_tokens
    assert spend["prompt_tokens"] + spend["completion_tokens"] >= worst


def test_retries_exhausted_stop_the_phase_and_a_rerun_asks_only_for_what_has_no_reply(project, server, keyed):
    """An endpoint that keeps failing is an outage, not a bad sample: the phase stops (no sample is failed), and the
    rerun sends exactly the requests that got no reply, paying nothing twice."""
    store, pid = project
    pool = [e for e in EXAMPLES if e.split == "pool"][:3]
    cfg = teacher_cfg(server, max_retries=2, concurrency=1)
    dispatch(store, pid, cfg, pool[:1])  # one reply arrives before the outage
    server.faults += ["500"] * 3
    with pytest.raises(TeacherUnavailable, match="did not answer 3 attempts .*HTTP 500"):
        dispatch(store, pid, cfg, pool)
    assert store.teacher_calls.spend(pid)["calls"] == 1
    results = dispatch(store, pid, cfg, pool)  # the endpoint is back
    assert all(r.status == "ok" for _, r in results.values()) and len(results) == 3
    assert store.teacher_calls.spend(pid)["calls"] == 3 and max(server.served.values()) == 1


@pytest.mark.parametrize("fault", ["malformed", "truncated"])
def test_bad_json_gets_one_repair_call(project, server, keyed, fault):
    store, pid = project
    server.faults += [fault]
    cfg = teacher_cfg(server, concurrency=1)
    example = [e for e in EXAMPLES if e.split == "pool"][0]
    (req, res), = dispatch(store, pid, cfg, [example]).values()
    assert res.status == "ok" and server.requests == 2
    purposes = [r["purpose"] for r in store.db.query("SELECT purpose FROM teacher_calls ORDER BY id")]
    assert purposes == ["revision", "repair"]
    assert res.completion_tokens == server.completion_tokens  # both calls are on the sample's bill


def test_bad_json_twice_is_teacher_failed_with_the_raw_text_kept(project, server, keyed):
    store, pid = project
    server.faults += ["malformed", "malformed"]
    cfg = teacher_cfg(server, concurrency=1)
    (req, res), = dispatch(store, pid, cfg, [[e for e in EXAMPLES if e.split == "pool"][0]]).values()
    assert res.status == "teacher_failed" and "still unusable" in res.error
    assert res.raw.startswith("Sure! Here is my check") and server.requests == 2


def test_an_endpoint_without_json_mode_is_used_without_it(project, server, keyed):
    store, pid = project
    server.faults += ["no_json_mode"]
    cfg = teacher_cfg(server, concurrency=1)
    results = dispatch(store, pid, cfg, [e for e in EXAMPLES if e.split == "pool"][:3])
    assert all(r.status == "ok" for _, r in results.values()) and server.requests == 4


def test_a_wrong_key_stops_with_a_clear_error_and_no_leak(project, server, monkeypatch):
    store, pid = project
    monkeypatch.setenv("ELAD_TEST_KEY", "sk-wrong-key-123456")
    with pytest.raises(TeacherUnavailable, match=r"refused the API key from \$ELAD_TEST_KEY \(HTTP 401\)") as e:
        dispatch(store, pid, teacher_cfg(server), [e for e in EXAMPLES if e.split == "pool"][:3])
    assert "sk-wrong-key" not in str(e.value) and store.teacher_calls.spend(pid)["calls"] == 0


# --- budget ----------------------------------------------------------------------------------------------------

def test_the_budget_is_never_exceeded_even_with_calls_in_flight(project, keyed):
    store, pid = project
    with TeacherServer(EXAMPLES, api_key=KEY, latency=0.05) as server:
        cfg = teacher_cfg(server, concurrency=4, max_tokens=200)
        pool = [e for e in EXAMPLES if e.split == "pool"]
        probe = OpenAICompatTeacher(cfg)
        one = probe.worst_prompt_tokens(build_request(pool[0], "revision", *wrong_steps(pool[0]), False).messages)
        cap = 5 * (one + 200)  # room for about five worst cases
        with pytest.raises(BudgetExceeded, match="rounds.budget_tokens"):
            dispatch(store, pid, cfg, pool, Budget(max_tokens=cap))
    spend = store.teacher_calls.spend(pid)
    assert 1 <= spend["calls"] < len(pool)
    assert spend["prompt_tokens"] + spend["completion_tokens"] <= cap
    assert (spend["prompt_tokens"], spend["completion_tokens"]) == (server.prompt_tokens, server.completion_tokens)


def test_a_round_stops_cleanly_at_the_dollar_budget(tmp_path, tiny_model_dir, server, keyed):
    store = Store(tmp_path / "ws")
    settings = {"teacher.kind": "openai", "teacher.model": server.model, "teacher.base_url": server.base_url,
                "teacher.api_key_env": "ELAD_TEST_KEY", "teacher.prices": {server.model: [100.0, 400.0]},
                "rounds.budget_dollars": 0.25, "teacher.max_tokens": 300}
    pid = tiny_project(store, tiny_model_dir, **settings)
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "budget", outcome.message
    assert 0 < store.teacher_calls.spend(pid)["cost_usd"] <= 0.25
    assert any(s["status"] == "over_budget" for s in store.selections.list(pid, 0))


# --- connection check and config -------------------------------------------------------------------------------

def test_check_connection(server, keyed):
    assert "serves 'teacher-test'" in check_connection(teacher_cfg(server))
    with pytest.raises(TeacherUnavailable, match="does not list model 'gpt-9'; it lists: teacher-test"):
        check_connection(teacher_cfg(server, model="gpt-9"))
    with pytest.raises(TeacherUnavailable, match="cannot reach http://127.0.0.1:9/v1"):
        check_connection(teacher_cfg(server, base_url="http://127.0.0.1:9/v1"))


def test_openai_config_is_validated():
    from elad_engine.errors import ConfigError
    with pytest.raises(ConfigError, match="name the endpoint's model"):
        TeacherConfig(kind="openai").validate("teacher")
    with pytest.raises(ConfigError, match="not an http"):
        TeacherConfig(kind="openai", model="m", base_url="localhost:8000").validate("teacher")
    with pytest.raises(ConfigError, match="NAME of an environment variable") as e:
        TeacherConfig(api_key_env="sk-live-abc").validate("teacher")
    assert "sk-live-abc" not in str(e.value)


def test_a_round_completes_with_thirty_percent_of_calls_failing(tmp_path, tiny_model_dir, keyed):
    """429s, 500s, timeouts and malformed JSON on 30% of calls: every selected sample ends revised or flagged
    teacher_failed, no reply is paid twice, the ledger equals the server's usage, the budget holds."""
    store = Store(tmp_path / "ws")
    with TeacherServer(EXAMPLES, api_key=KEY, fail_rate=0.3, hang_s=0.8, seed=7) as server:
        settings = {"teacher.kind": "openai", "teacher.model": server.model, "teacher.base_url": server.base_url,
                    "teacher.api_key_env": "ELAD_TEST_KEY", "teacher.timeout_s": 0.5, "teacher.max_retries": 2,
                    "teacher.concurrency": 4, "rounds.warmup": 8, "selection.round_budget": 8,
                    "rounds.budget_tokens": 60_000}
        pid = tiny_project(store, tiny_model_dir, **settings)
        for _ in range(10):  # an endpoint that fails a call 3 times running stops the phase; the resume goes on
            outcome = RoundRunner(store, pid).run()
            if outcome.stop_reason != "teacher_unavailable":
                break
        faults = [o for _, o in server.events if o != "ok"]
        usage = (server.prompt_tokens, server.completion_tokens)
        served = max(server.served.values())
    assert outcome.stop_reason == "completed", outcome.message
    assert len(faults) >= 0.15 * server.requests, faults  # the faults really happened
    for rnd in (0, 1):
        selected = {s["example_id"] for s in store.selections.list(pid, rnd)}
        revised = {r["example_id"]: r["status"] for r in store.revisions.list(pid, rnd)}
        assert set(revised) == selected and len(selected) == 8
        assert set(revised.values()) <= {"approved", "teacher_failed"}
    spend = store.teacher_calls.spend(pid)
    paid = store.db.execute("SELECT sum(prompt_tokens), sum(completion_tokens) FROM teacher_calls WHERE cached=0 "
                            "AND purpose != 'timeout'").fetchone()
    assert served == 1 and paid == usage  # the replies the server computed, each billed once
    assert spend["prompt_tokens"] + spend["completion_tokens"] <= 60_000  # timed-out calls at their worst case too


# --- endpoints that cannot be used pause the round, with the reason ----------------------------------------------

def _openai_project(store, tiny_model_dir, base_url: str, model: str = "teacher-test", **more):
    settings = {"teacher.kind": "openai", "teacher.model": model, "teacher.base_url": base_url,
                "teacher.api_key_env": "ELAD_TEST_KEY", "teacher.max_retries": 1, "teacher.timeout_s": 2.0, **more}
    return tiny_project(store, tiny_model_dir, **settings)


def test_a_wrong_port_pauses_the_round_and_the_job_with_the_reason(tmp_path, tiny_model_dir, keyed):
    import socket

    from elad_engine.jobs.worker import run_worker
    from elad_engine.service import Studio, User

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Store(tmp_path / "ws")
    pid = _openai_project(store, tiny_model_dir, f"http://127.0.0.1:{port}/v1")
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "teacher_unavailable" and "cannot reach" in outcome.message
    assert store.revisions.list(pid) == [] and store.teacher_calls.spend(pid)["calls"] == 0  # no sample failed
    job = Studio(store, User.system("t")).rounds.start(pid)
    run_worker(tmp_path / "ws", once=True)
    row = store.jobs.get(job)
    assert row["status"] == "paused" and "cannot reach" in row["message"] and "Resume once" in row["message"]


def test_a_model_the_server_does_not_list_is_refused_before_any_call(tmp_path, tiny_model_dir, keyed):
    store = Store(tmp_path / "ws")
    with TeacherServer(EXAMPLES, api_key=KEY) as server:
        pid = _openai_project(store, tiny_model_dir, server.base_url, model="gpt-4o")
        outcome = RoundRunner(store, pid).run()
        assert server.requests == 0  # not one chat call
    assert outcome.stop_reason == "teacher_unavailable"
    assert "does not list model 'gpt-4o'; it lists: teacher-test" in outcome.message


def test_a_base_url_without_v1_gets_a_hint(tmp_path, tiny_model_dir, keyed):
    store = Store(tmp_path / "ws")
    with TeacherServer(EXAMPLES, api_key=KEY) as server:
        root = server.base_url[:-len("/v1")]
        cfg = teacher_cfg(server, base_url=root)
        with pytest.raises(TeacherUnavailable, match=r"\(HTTP 404\).*try teacher.base_url = \"http://127.0.0.1:\d+/v1\""):
            dispatch(store, tiny_project(store, tiny_model_dir), cfg, [e for e in EXAMPLES if e.split == "pool"][:1])


def test_json_mode_is_switched_off_for_a_server_that_answers_it_with_a_500(project, server, keyed):
    store, pid = project
    server.faults += ["no_json_mode_500"]
    results = dispatch(store, pid, teacher_cfg(server, concurrency=1), [e for e in EXAMPLES if e.split == "pool"][:2])
    assert all(r.status == "ok" for _, r in results.values()) and server.requests == 3


def test_a_teacher_failed_sample_can_be_asked_again_and_keeps_every_reply(tmp_path, tiny_model_dir, keyed):
    """Two malformed replies make a sample teacher_failed (both kept for the reviewer); asking again through the
    service queues a job that bypasses the request cache, and the sample comes back pending with all three replies."""
    from elad_engine.jobs.worker import run_worker
    from elad_engine.service import Studio, User

    store = Store(tmp_path / "ws")
    with TeacherServer(EXAMPLES, api_key=KEY) as server:
        pid = _openai_project(store, tiny_model_dir, server.base_url, **{"review.policy": "human",
                                                                          "teacher.concurrency": 1})
        server.faults += ["malformed", "malformed"]
        assert RoundRunner(store, pid).run().stop_reason == "review_pending"
        failed = store.revisions.list(pid, 0, status="teacher_failed")
        assert len(failed) == 1 and len(failed[0]["replies"]) == 2 and all("tru" in r for r in failed[0]["replies"])
        reviewer = Studio(store, User("rev", Role.REVIEWER))
        job = reviewer.review.ask_again(failed[0]["id"])
        before = server.requests
        run_worker(tmp_path / "ws", once=True)
        assert store.jobs.get(job)["status"] == "done" and server.requests == before + 1
    again = store.revisions.get(failed[0]["id"])
    assert again["status"] == "pending" and len(again["replies"]) == 3 and again["text"]
    with pytest.raises(StoreError, match="only a teacher_failed sample is asked again"):
        reviewer.review.ask_again(failed[0]["id"])


@pytest.mark.parametrize("accepts, taken", [({"json_schema", "json_object"}, "json_schema"),
                                            ({"json_object"}, "json_object"), (set(), None)])
def test_structured_output_falls_back_per_endpoint_and_is_remembered(project, keyed, accepts, taken):
    """json_schema where the endpoint takes it, else JSON mode, else the prompt alone; each refusal is tried once
    per endpoint (remembered), costs no retry, and every reply parses."""
    store, pid = project
    with TeacherServer(EXAMPLES) as server:
        server.accepts = accepts
        pool = [e for e in EXAMPLES if e.split == "pool"]
        results = dispatch(store, pid, teacher_cfg(server, concurrency=1), pool[:3])
        assert all(r.status == "ok" for _, r in results.values())
        refused = {"json_schema": 0, "json_object": 1, None: 2}[taken]
        assert server.formats == ["json_schema", "json_object"][:refused] + [taken] * 3
        if taken == "json_schema":
            body_schema = server.last_schema
            assert body_schema["required"] == ["first_error", "reason", "revised_steps", "answer"]
        # a new teacher on the same endpoint starts from what it took
        results = dispatch(store, pid, teacher_cfg(server, concurrency=1), pool[3:4])
        assert server.formats[-1] == taken
