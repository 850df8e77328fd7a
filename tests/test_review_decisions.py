"""Review as people who review all day expect (issue 17): search the round's samples, bulk reject with a reason,
undo one's own last decision (an appended undo row, never an UPDATE of the log), review guidelines."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from conftest import reviewed_workspace
from elad_engine.accounts import Role, User
from elad_engine.errors import EladError, StoreError
from elad_engine.service import QueueFilter, Studio
from elad_engine.states import PhaseStatus, RevisionStatus
from elad_engine.store import Store


@pytest.fixture(scope="module")
def waiting_ws(tmp_path_factory, tiny_model_dir):
    return reviewed_workspace(tmp_path_factory.mktemp("rd") / "ws", tiny_model_dir)


@pytest.fixture
def ws(waiting_ws, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(waiting_ws, copy)
    return copy


def test_search_finds_questions_by_all_words_and_rows_say_who_decided(ws):
    store = Store(ws)
    dana = Studio(store, User("dana", Role.REVIEWER))
    pid = store.projects.id_of("p")
    every = dana.review.queue(pid, QueueFilter(round=1, statuses=()))
    assert every and all(r["question"] and r["reviewer"] == "" for r in every)
    word = every[0]["question"].split()[0]
    hits = dana.review.queue(pid, QueueFilter(round=1, statuses=(), search=word.upper()))
    assert every[0]["id"] in [r["id"] for r in hits]
    assert all(word.lower() in r["question"].lower() for r in hits)
    assert dana.review.queue(pid, QueueFilter(round=1, statuses=(), search=f"{word} zzzz-no-such-word")) == []
    dana.review.decide(every[0]["id"], "approve")
    after = {r["id"]: r for r in dana.review.queue(pid, QueueFilter(round=1, statuses=()))}
    assert after[every[0]["id"]]["reviewer"] == "dana" and after[every[0]["id"]]["status"] == "approved"


def test_bulk_reject_needs_a_reason_and_keeps_it_in_every_samples_log(ws):
    store = Store(ws)
    dana = Studio(store, User("dana", Role.REVIEWER))
    pid = store.projects.id_of("p")
    ids = [r["id"] for r in dana.review.queue(pid, QueueFilter(round=1))][:2]
    before = store.table_counts()
    with pytest.raises(StoreError, match="needs a reason"):
        dana.review.bulk_reject(pid, 1, ids, "  ")
    assert store.table_counts() == before  # refused: nothing written
    assert dana.review.bulk_reject(pid, 1, ids, "the chain skips a step") == 2
    for rid in ids:
        assert store.revisions.get(rid)["status"] == RevisionStatus.REJECTED
        assert [(r["action"], r["reason"]) for r in store.reviews.list(rid)] == [("reject", "the chain skips a step")]
    assert dana.review.bulk_reject(pid, 1, ids, "again") == 0  # decided ones are left alone
    viewer = Studio(store, User("val", Role.VIEWER))
    with pytest.raises(EladError, match="only admin or reviewer may review"):
        viewer.review.bulk_reject(pid, 1, ids, "no")


def test_undo_appends_a_row_and_makes_the_sample_undecided_again_only_for_ones_own_latest_decision(ws):
    store = Store(ws)
    dana, eve = (Studio(store, User(n, Role.REVIEWER)) for n in ("dana", "eve"))
    pid = store.projects.id_of("p")
    first, second = [r["id"] for r in dana.review.queue(pid, QueueFilter(round=1))][:2]
    with pytest.raises(StoreError, match="dana has no decision in round 1 to undo"):
        dana.review.undo_last(pid, 1)
    dana.review.decide(first, "approve")
    dana.review.decide(second, "reject", reason="off by one")
    assert dana.review.last_decision(pid, 1)["revision_id"] == second
    assert dana.review.undo_last(pid, 1) == second  # the latest one first
    assert store.revisions.get(second)["status"] == RevisionStatus.PENDING
    log = store.reviews.list(second, effective=False)
    assert [(r["action"], r["undoes"]) for r in log] == [("reject", None), ("undo", log[0]["id"])]
    assert store.reviews.list(second) == []  # the undone decision no longer counts
    assert dana.review.undo_last(pid, 1) == first
    assert store.revisions.get(first)["status"] == RevisionStatus.PENDING
    assert store.revisions.get(first)["final_text"] is None
    assert dana.review.last_decision(pid, 1) is None
    dana.review.decide(first, "approve")
    eve.review.decide(first, "reject", reason="no")  # eve decides the sample after dana
    with pytest.raises(StoreError, match="decided again by eve after you"):
        dana.review.undo_last(pid, 1)
    con = sqlite3.connect(ws / "elad.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE reviews SET action = 'approve'")  # the log itself is never rewritten
    con.rollback()
    con.close()
    store.phases.set(pid, 1, "review", PhaseStatus.CLOSED)
    with pytest.raises(StoreError, match="review is over"):
        eve.review.undo_last(pid, 1)


def test_review_guidelines_are_written_by_admins_and_read_by_everyone(ws):
    store = Store(ws)
    pid = store.projects.id_of("p")
    admin, dana = Studio(store, User("ada", Role.ADMIN)), Studio(store, User("dana", Role.REVIEWER))
    assert dana.review.guidelines(pid) == ""
    admin.review.set_guidelines(pid, "## Rules\n\n- Reject a chain that skips a step.\n")
    assert dana.review.guidelines(pid).startswith("## Rules")
    with pytest.raises(EladError, match="only admin may configure"):
        dana.review.set_guidelines(pid, "anything goes")
    with pytest.raises(StoreError, match="under 20,000"):
        admin.review.set_guidelines(pid, "x" * 20_001)
    assert dana.review.guidelines(pid).startswith("## Rules")
