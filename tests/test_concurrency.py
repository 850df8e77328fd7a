"""Many reviewers at once on one SQLite file: five processes claim and decide samples concurrently. No review
is lost, doubled or interleaved, every sample is decided once, and no process ever sees a busy error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO
from elad_engine.config import ProjectConfig
from elad_engine.method.records import Example, StepVerdict, TeacherResult
from elad_engine.review.queue import QueueFilter
from elad_engine.store import Store

REVIEWER = r'''
import json, sys
from elad_engine.review.queue import QueueFilter, claim_next
from elad_engine.review.decisions import decide
from elad_engine.store import Store
store, name, decided = Store(sys.argv[1]), sys.argv[2], []
flt = QueueFilter(round=1, statuses=("pending",))
while True:
    rid = claim_next(store, 1, flt, name)
    if rid is None:
        break
    action = ("approve", "edit", "reject")[rid % 3]
    decide(store, rid, action, name, steps=["1 + 1 = 2"] if action == "edit" else None,
           answer="2" if action == "edit" else None, reason=f"{name} says no" if action == "reject" else None)
    decided.append(rid)
print(json.dumps(decided))
'''


def test_five_reviewer_processes_decide_every_sample_exactly_once(tmp_path):
    ws = tmp_path / "ws"
    store = Store(ws)
    pid = store.projects.create("p", ProjectConfig())
    n = 150
    store.examples.add(pid, [Example(id=f"e{i}", question=f"q{i}", answer="2") for i in range(n)], "test")
    for i in range(n):
        store.revisions.save(pid, 1, f"e{i}", "revision", "oracle", TeacherResult(
            [StepVerdict(False, "bad")], 1, ["1 + 1 = 2"], "2", 10, 5), "1. 1 + 1 = 2\nThe answer is 2.",
            "1. 1 + 1 = 3\nThe answer is 3.", 0.0, "v1")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", REVIEWER, str(ws), f"rev{k}"], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(5)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for (out, err), p in zip(outputs, procs):
        assert p.returncode == 0, err
        assert "locked" not in err and "busy" not in err.lower()
    decided = {f"rev{k}": json.loads(out) for k, (out, _) in enumerate(outputs)}
    all_ids = [rid for ids in decided.values() for rid in ids]
    assert len(all_ids) == n == len(set(all_ids))  # every sample once, by one process
    assert sum(len(ids) > 0 for ids in decided.values()) >= 3  # they really ran side by side
    reviews = store.reviews.of_project(pid)
    assert len(reviews) == n and len({r["revision_id"] for r in reviews}) == n  # none lost, none doubled
    by = {rid: name for name, ids in decided.items() for rid in ids}
    for r in reviews:  # each review row is whole and belongs to the process that decided it
        assert r["reviewer"] == by[r["revision_id"]]
        action = ("approve", "edit", "reject")[r["revision_id"] % 3]
        assert r["action"] == action
        assert (r["reason"] == f"{r['reviewer']} says no") == (action == "reject")
        assert (r["edited_text"] == "1. 1 + 1 = 2\nThe answer is 2.") == (action == "edit")
    statuses = [r["status"] for r in store.revisions.list(pid, 1)]
    assert sorted(set(statuses)) == ["approved", "edited", "rejected"]
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.db.execute("SELECT count(*) FROM review_claims").fetchone()[0] == 0  # decisions free claims


def test_a_claimed_sample_is_not_handed_to_another_reviewer(tmp_path):
    from elad_engine.errors import StoreError
    from elad_engine.review.decisions import decide
    from elad_engine.review.queue import claim_next, queue

    store = Store(tmp_path / "ws")
    pid = store.projects.create("p", ProjectConfig())
    store.examples.add(pid, [Example(id=f"e{i}", question=f"q{i}", answer="2") for i in range(3)], "test")
    for i in range(3):
        store.revisions.save(pid, 1, f"e{i}", "revision", "oracle", TeacherResult([], 1, ["x"], "2", 1, 1),
                            "1. x\nThe answer is 2.", None, 0.0, "v1")
    flt = QueueFilter(round=1)
    a = claim_next(store, pid, flt, "alice")
    b = claim_next(store, pid, flt, "bob")
    assert a != b
    assert a not in [r["id"] for r in queue(store, pid, flt, "bob")]
    assert claim_next(store, pid, flt, "alice") == a  # alice keeps hers
    try:
        decide(store, a, "approve", "bob")
        raise AssertionError("bob decided alice's sample")
    except StoreError as e:
        assert "being reviewed by alice" in str(e)
    decide(store, a, "approve", "alice")
    assert store.revisions.get(a)["status"] == "approved"


def test_overlap_needs_two_reviewers_and_disagreement_goes_to_an_admin(tmp_path):
    import pytest

    from elad_engine.accounts import AccessDenied, Role, User
    from elad_engine.errors import StoreError
    from elad_engine.metrics import agreement
    from elad_engine.review.queue import queue
    from elad_engine.service import Studio

    store = Store(tmp_path / "ws")
    pid = store.projects.create("p", ProjectConfig().with_overrides(**{"review.overlap": 2, "review.policy": "human"}))
    store.examples.add(pid, [Example(id=f"e{i}", question=f"q{i}", answer="2") for i in range(2)], "test")
    ids = [store.revisions.save(pid, 1, f"e{i}", "revision", "oracle", TeacherResult([], 1, ["x"], "2", 1, 1),
                               "1. x\nThe answer is 2.", None, 0.0, "v1") for i in range(2)]
    alice, bob = (Studio(store, User(n, Role.REVIEWER)).review for n in ("alice", "bob"))
    admin = Studio(store, User("ada", Role.ADMIN)).review
    alice.decide(ids[0], "approve")
    assert store.revisions.get(ids[0])["status"] == "pending"  # one of two reviews
    assert ids[0] not in [r["id"] for r in queue(store, pid, QueueFilter(round=1), "alice")]
    with pytest.raises(StoreError, match="already reviewed"):
        alice.decide(ids[0], "reject")
    bob.decide(ids[0], "approve")
    assert store.revisions.get(ids[0])["status"] == "approved"
    alice.decide(ids[1], "approve")
    bob.decide(ids[1], "reject", reason="wrong")
    assert store.revisions.get(ids[1])["status"] == "conflict"
    assert agreement(store, pid) == {"overlap": 2, "samples with several reviews": 2, "agreement %": 50.0,
                                     "open conflicts": 1}
    with pytest.raises(AccessDenied, match="only admin"):
        bob.decide(ids[1], "approve")
    admin.decide(ids[1], "reject", reason="bob is right")
    assert store.revisions.get(ids[1])["status"] == "rejected"
    assert [(r["reviewer"], r["action"]) for r in store.reviews.list(ids[1])] == [
        ("alice", "approve"), ("bob", "reject"), ("ada", "reject")]  # the log shows who did what
    assert agreement(store, pid)["open conflicts"] == 0
