"""End to end through the round loop on a tiny random-initialised student: every phase, resume, policies,
budget and pool stops."""

from __future__ import annotations

import weakref

import pytest

from conftest import tiny_project
from elad_engine.method.records import TeacherResult
from elad_engine.review.decisions import close_review
from elad_engine.review.decisions import record as record_review
from elad_engine.rounds.context import RoundContext
from elad_engine.rounds.loop import RoundRunner
from elad_engine.rounds.phases import PHASES as PHASES_BY_NAME
from elad_engine.rounds.phases import PhaseResult
from elad_engine.states import ROUND_PHASES as PHASES
from elad_engine.states import Phase, PhaseStatus
from elad_engine.store import Store
from elad_engine.student.model import Student

ALL_TABLES = ["projects", "imports", "examples", "rounds", "phases", "explanations", "scores", "selections",
              "teacher_calls", "revisions", "reviews", "training_runs", "training_losses", "metrics"]


def test_warmup_and_one_round_fill_every_table(tiny_model_dir, workspace, monkeypatch):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir)
    outcome = RoundRunner(store, pid).run()
    assert (outcome.stop_reason, outcome.rounds_done) == ("completed", 2)
    counts = store.table_counts()
    for table in ALL_TABLES:
        assert counts[table] > 0, table
    assert [r["round"] for r in store.metrics.list(pid)] == [0, 1]
    assert list(store.metrics.list(pid)[1]["phase_seconds"]) == list(PHASES)  # every phase timed, evaluate too
    assert len(store.revisions.list(pid, 0)) == 4 and len(store.revisions.list(pid, 1)) == 4
    assert {r["mode"] for r in store.revisions.list(pid, 0)} == {"full"}
    assert {r["mode"] for r in store.revisions.list(pid, 1)} == {"revision"}
    # round 1 explains the 20 unlabeled pool questions: 1 greedy + 2 samples each
    assert len(store.explanations.list(pid, 1)) == 20 * 3
    assert all(x.probe_answers is not None and len(x.probe_answers) == len(x.steps) + 1
               for x in store.explanations.list(pid, 1))
    spend = store.teacher_calls.spend(pid)
    m1 = store.metrics.list(pid)[1]
    assert (m1["prompt_tokens"], m1["completion_tokens"]) == (spend["prompt_tokens"], spend["completion_tokens"])
    assert spend["calls"] == 8
    assert store.training_runs.get(pid, 1)["samples"] == 8  # trains on all approved so far
    for rnd in (0, 1):  # the live loss log, written while training ran, is the finished run's losses step by step
        run = store.training_runs.get(pid, rnd)
        live = store.training_runs.live_losses(pid, rnd)
        assert [r["step"] for r in live] == list(range(1, run["steps"] + 1))
        assert [r["loss"] for r in live] == pytest.approx(run["losses"])
    # warm-up samples left the pool; round 1 selected none of them again
    selected = lambda rnd: {s["example_id"] for s in store.selections.list(pid, rnd)}
    assert not selected(0) & selected(1)
    # a rerun does nothing more
    before = store.table_counts()
    assert RoundRunner(store, pid).run().stop_reason == "completed"
    assert store.table_counts() == before
    # a round holds one student at a time: the one it had is freed before the next one loads (a trained student
    # waiting for the garbage collector beside the evaluated one once added a model's memory to a round's peak)
    ctx = RoundContext(store, pid)
    first = weakref.ref(ctx.student_for(0).model)  # round 0 starts from the base student
    load, alive_at_load = Student.load, []

    def watched_load(*args, **kwargs):
        alive_at_load.append(first() is not None)
        return load(*args, **kwargs)

    monkeypatch.setattr(Student, "load", staticmethod(watched_load))
    assert ctx.student_for(1).adapter  # round 1 starts from round 0's adapter
    assert alive_at_load == [False]


def test_stop_between_phases_and_resume_matches_uninterrupted_run(tiny_model_dir, tmp_path):
    ref_store = Store(tmp_path / "ref")
    ref = tiny_project(ref_store, tiny_model_dir)
    RoundRunner(ref_store, ref).run()

    store = Store(tmp_path / "crashy")
    pid = tiny_project(store, tiny_model_dir)
    cancelled = 0
    for stop_at in (4, 5, 6):  # stop at several safe points (the cancel check runs per phase and per chunk)
        calls = [0]

        def cancel():
            calls[0] += 1
            return calls[0] >= stop_at

        outcome = RoundRunner(store, pid, cancel=cancel).run()
        if outcome.stop_reason == "completed":
            break
        assert outcome.stop_reason == "cancelled"
        cancelled += 1
    assert cancelled == 3
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "completed"
    calls = store.teacher_calls.spend(pid)["calls"]
    assert calls == ref_store.teacher_calls.spend(ref)["calls"] == 8  # no teacher call made twice
    phases = store.phases.list(pid)
    assert len(phases) == len({(p["round"], p["phase"]) for p in phases})
    strip = lambda ms: [{k: v for k, v in m.items() if k not in ("created_at", "phase_seconds", "project_id")}
                        for m in ms]
    assert strip(store.metrics.list(pid)) == strip(ref_store.metrics.list(ref))
    selected = lambda s, p: [r["example_id"] for r in s.selections.list(p, 1)]
    assert selected(store, pid) == selected(ref_store, ref)


def test_human_policy_waits_for_review_then_trains(tiny_model_dir, workspace):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"review.policy": "human", "rounds.rounds": 0})
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "review_pending" and "4 revision(s) pending" in outcome.message
    assert store.training_runs.get(pid, 0) is None
    revs = store.revisions.list(pid, 0, status="pending")
    record_review(store, revs[0]["id"], "approve", "alice")
    record_review(store, revs[1]["id"], "edit", "bob", edited_text="1. 2 + 2 = 4\nThe answer is 4.")
    record_review(store, revs[2]["id"], "reject", "alice", reason="wrong")
    assert RoundRunner(store, pid).run().stop_reason == "review_pending"  # one is still pending
    close_review(store, pid, 0)  # admin: train on what is approved
    assert RoundRunner(store, pid).run().stop_reason == "completed"
    run = store.training_runs.get(pid, 0)
    assert run["samples"] == 2
    texts = [t for _, t in store.revisions.training_samples(pid, 0)]
    assert "1. 2 + 2 = 4\nThe answer is 4." in texts
    assert [r["action"] for r in store.reviews.of_project(pid)] == ["approve", "edit", "reject"]
    m = store.metrics.list(pid)[0]
    assert (m["approved"], m["edited"], m["rejected"]) == (1, 1, 1)


def test_budget_stops_before_it_is_exceeded(tiny_model_dir, workspace):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"rounds.budget_tokens": 2500, "rounds.rounds": 3,
                                                 "teacher.max_tokens": 200})
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "budget", outcome
    spend = store.teacher_calls.spend(pid)
    assert spend["prompt_tokens"] + spend["completion_tokens"] <= 2500
    assert "rounds.budget_tokens" in outcome.message
    over = [s for r in (0, 1, 2) for s in store.selections.list(pid, r) if s["status"] == "over_budget"]
    assert over, "the samples left unrevised are marked"
    # the round in which the budget ran out still trained and evaluated, and the run says why it stopped
    last = store.rounds.list(pid)[-1]
    assert last["status"] == "done" and last["stop_reason"] == "budget"
    assert RoundRunner(store, pid).run().stop_reason == "budget"


def test_pool_empty_stops_cleanly(tiny_model_dir, workspace):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, pool=8, **{"rounds.rounds": 5})
    outcome = RoundRunner(store, pid).run()
    assert outcome.stop_reason == "pool_empty" and outcome.rounds_done == 2
    assert len(store.selections.labelled_ids(pid)) == 8


@pytest.mark.parametrize("strategy", ["random", "perplexity", "elad-inter"])
def test_other_strategies_run(tiny_model_dir, workspace, strategy):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"selection.strategy": strategy, "rounds.warmup": 0})
    assert RoundRunner(store, pid).run().stop_reason == "completed"
    assert len(store.selections.list(pid, 1)) == 4
    assert all(s["score"] is not None for s in store.selections.list(pid, 1))
    assert len(store.revisions.list(pid, 1)) == 4  # revision mode explains the selected samples when needed


def test_approve_if_gold_matches_rejects_wrong_answers(tiny_model_dir, workspace):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"review.policy": "approve-if-gold-matches"})
    runner = RoundRunner(store, pid)
    ex = store.examples.list(pid, split="pool")[:2]
    for e, answer in ((ex[0], e_answer) for e_answer in ["999"]):
        store.revisions.save(pid, 0, e.id, "full", "test", TeacherResult([], 1, ["1 + 1 = 2"], answer, 1, 1),
                            f"1. 1 + 1 = 2\nThe answer is {answer}.", None, 0.0, "v")
    store.revisions.save(pid, 0, ex[1].id, "full", "test", TeacherResult([], 1, ["x"], ex[1].answer, 1, 1),
                        f"1. x\nThe answer is {ex[1].answer}.", None, 0.0, "v")
    PHASES_BY_NAME[Phase.REVIEW](runner.context, 0)
    by_id = {r["example_id"]: r for r in store.revisions.list(pid, 0)}
    assert by_id[ex[0].id]["status"] == "rejected" and by_id[ex[1].id]["status"] == "approved"
    reason = store.reviews.list(by_id[ex[0].id]["id"])[0]["reason"]
    assert "'999'" in reason and repr(ex[0].answer) in reason


def test_raising_the_budget_lets_the_run_go_on(tiny_model_dir, workspace):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"rounds.budget_tokens": 1500, "teacher.max_tokens": 200})
    assert RoundRunner(store, pid).run().stop_reason == "budget"
    store.projects.set_config(pid, store.projects.config(pid).with_overrides(**{"rounds.budget_tokens": 100_000}))
    assert RoundRunner(store, pid).run().stop_reason == "completed"
    assert len(store.metrics.list(pid)) == 2


def test_select_is_idempotent_after_a_crash(tiny_model_dir, workspace):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir)
    runner = RoundRunner(store, pid)
    PHASES_BY_NAME[Phase.SELECT](runner.context, 0)  # saved, but the phase was never marked done (a crash right after)
    first = [s["example_id"] for s in store.selections.list(pid, 0)]
    PHASES_BY_NAME[Phase.SELECT](runner.context, 0)
    assert [s["example_id"] for s in store.selections.list(pid, 0)] == first and len(first) == 4


def test_rounds_need_a_test_split(tiny_model_dir, workspace):
    from elad_engine.config import ProjectConfig
    from elad_engine.errors import EladError
    from elad_engine.tasks.synthetic import generate

    store = Store(workspace)
    pid = store.projects.create("no-test", ProjectConfig().with_overrides(**{"student.path": str(tiny_model_dir)}))
    store.examples.add(pid, generate(5, 1), "pool-only")
    with pytest.raises(EladError, match=r"no test split \(5 pool rows, 0 test rows\)"):
        RoundRunner(store, pid).run()


def test_human_review_waits_for_teacher_failed_samples(tiny_model_dir, workspace):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"review.policy": "human"})
    runner = RoundRunner(store, pid)
    ex = store.examples.list(pid, split="pool")[0]
    store.revisions.save(pid, 0, ex.id, "full", "t", TeacherResult([], None, [], "", 5, 0, status="teacher_failed"),
                        None, None, 0.0, "v")
    assert PHASES_BY_NAME[Phase.REVIEW](runner.context, 0).status == PhaseStatus.WAITING
    rid = store.revisions.list(pid, 0)[0]["id"]
    record_review(store, rid, "edit", "carol", edited_text=f"1. fixed\nThe answer is {ex.answer}.")
    assert PHASES_BY_NAME[Phase.REVIEW](runner.context, 0) == PhaseResult.done("decided by reviewers")


def test_projects_sharing_a_workspace_report_the_teacher_cost_of_their_method(tmp_path, tiny_model_dir):
    """The second of two identical projects gets every reply from the request cache and pays nothing, but its
    metrics still show the tokens its method used, so strategies compare fairly in one workspace."""
    from elad_engine.rounds.loop import RoundRunner
    from elad_engine.store import Store

    store = Store(tmp_path / "ws")
    first = tiny_project(store, tiny_model_dir, name="first")
    second = tiny_project(store, tiny_model_dir, name="second")
    for pid in (first, second):
        assert RoundRunner(store, pid).run().stop_reason == "completed"
    spend_first, spend_second = store.teacher_calls.spend(first), store.teacher_calls.spend(second)
    assert spend_second["calls"] == 0 and spend_second["cached_calls"] == spend_first["calls"]
    a, b = store.metrics.list(first)[-1], store.metrics.list(second)[-1]
    assert (a["prompt_tokens"], a["completion_tokens"]) == (b["prompt_tokens"], b["completion_tokens"]) != (0, 0)
    assert a["cost_usd"] == pytest.approx(b["cost_usd"])


def test_a_stop_in_the_explain_phase_waits_for_one_generation_batch_not_the_whole_chunk(tiny_model_dir, workspace,
                                                                                      monkeypatch):
    """Issue 17.4: pause and cancel used to wait for the whole chunk of 64 questions (minutes on a CPU); the stop
    flag is now read after every decode group (batch_size questions), and the abandoned chunk is explained again on
    resume."""
    import elad_engine.student.decode as decode_module
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"student.batch_size": 2, "compute.chunk_size": 64})
    RoundRunner(store, pid).run(max_rounds=1)  # the warm-up
    flag = {"explaining": False, "stop": False, "batches_after": 0}
    real = decode_module.decode

    def counting(*a, **kw):
        flag["batches_after"] += flag["stop"]
        out = real(*a, **kw)
        flag["stop"] = flag["stop"] or flag["explaining"]  # the stop is asked for during the chunk's first group
        return out

    monkeypatch.setattr(decode_module, "decode", counting)

    def progress(phase, done, total):
        flag["explaining"] = flag["explaining"] or phase == "explain"

    outcome = RoundRunner(store, pid, progress=progress, cancel=lambda: flag["stop"]).run()
    assert outcome.stop_reason == "cancelled" and flag["batches_after"] == 0, flag  # 20 questions = 10 groups
    assert store.explanations.list(pid, 1) == []  # the unfinished chunk was not saved half-done
    monkeypatch.setattr(decode_module, "decode", real)
    assert RoundRunner(store, pid).run().stop_reason == "completed"  # and the resumed round explains it whole
    assert len(store.explanations.list(pid, 1)) == 20 * 3
