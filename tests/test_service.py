"""The service seam: every public action of every area declares the permission it needs, an area that forgets one
cannot be defined, and every guarded action is refused for a role without it, before it reads or writes anything."""

from __future__ import annotations

import pytest

from conftest import tiny_project
from elad_engine.accounts import AccessDenied, Permission, Role, User
from elad_engine.service import Studio
from elad_engine.service.access import Area, action
from elad_engine.store import Store

USERS = [User("ada", Role.ADMIN), User("rev", Role.REVIEWER), User("val", Role.VIEWER), User.visitor()]


def test_every_public_action_declares_its_permission():
    for name, area in Studio.AREAS.items():
        actions = area.actions()
        assert actions, name
        assert all(isinstance(p, Permission) for p in actions.values()), (name, actions)
    assert Studio.AREAS["review"].actions()["decide"] == Permission.REVIEW
    assert Studio.AREAS["rounds"].actions()["start"] == Permission.RUN


def test_an_area_that_forgets_a_check_cannot_be_defined():
    with pytest.raises(TypeError, match="delete_everything declare no permission"):
        class Leaky(Area):
            def delete_everything(self) -> None: ...

    with pytest.raises(TypeError, match="shortcut declare no permission"):
        class Sneaky(Area):
            @staticmethod
            def shortcut() -> None: ...

    class Fine(Area):
        @action(Permission.READ)
        def look(self) -> str:
            return "ok"

    assert Fine(None, User("val", Role.VIEWER)).look() == "ok"
    with pytest.raises(AccessDenied, match="you are not logged in"):
        Fine(None, User.visitor()).look()


def test_a_studio_needs_an_acting_user(workspace):
    for nobody in (None, {"name": "ada", "role": "admin"}):
        with pytest.raises(AccessDenied, match="needs the acting user"):
            Studio(Store(workspace), nobody)


def test_every_guarded_action_is_refused_for_a_role_without_it(workspace, tiny_model_dir):
    """All actions of all areas, called as every role that lacks their permission: each raises AccessDenied before
    its body runs (no arguments are even needed), and the workspace is unchanged afterwards."""
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir)
    before = store.table_counts()
    refused, allowed = 0, 0
    for area_name, area in Studio.AREAS.items():
        for name, permission in area.actions().items():
            for user in USERS:
                method = getattr(getattr(Studio(store, user), area_name), name)
                if user.may(permission):
                    allowed += 1
                    continue
                with pytest.raises(AccessDenied, match=f"may {permission}"):
                    method(pid, 0, 0)
                refused += 1
    assert store.table_counts() == before
    assert refused >= 60 and allowed >= 60, (refused, allowed)
    print(f"{refused} calls refused, {allowed} role-action pairs allowed")


def test_roles_reach_what_they_may(workspace, tiny_model_dir):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir)
    viewer, reviewer, admin = (Studio(store, u) for u in USERS[2::-1])
    assert viewer.projects.names() == ["p"] and viewer.review.rounds(pid) == []
    with pytest.raises(AccessDenied, match="val is a viewer: only admin or reviewer may review"):
        viewer.review.claim(1)
    with pytest.raises(AccessDenied, match="rev is a reviewer: only admin may run"):
        reviewer.rounds.start(pid)
    job = admin.rounds.start(pid, max_rounds=1)
    assert admin.rounds.job(pid)["id"] == job and admin.rounds.start(pid) == job  # one active job per project
    admin.rounds.stop(job)
    assert store.jobs.get(job)["status"] == "paused"
