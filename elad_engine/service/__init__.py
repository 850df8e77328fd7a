"""The one seam that the web app's pages, the CLI and the worker call: a `Studio`, opened on a workspace with the
acting user, whose areas (`projects`, `rounds`, `review`, `metrics`, `exports`, `accounts`, `maintenance`,
`students`) each
check the user's role once per action (access.py). Pages import this package and nothing else of the engine
but the errors, the config dataclasses and the states (tests/test_architecture.py).

    studio = Studio.open("workspace", User.system("cli"))
    project_id = studio.projects.create_demo(pool=400, test=400)
    studio.rounds.start(project_id)     # a job for the worker
"""

from __future__ import annotations

from pathlib import Path

from ..accounts import ROLES, SESSION_SECONDS, AccessDenied, Permission, Role, User, UserKind
from ..config import ProjectConfig
from ..errors import ConfigError, EladError
from ..jobs.spawn import STALE_S, ensure_worker
from ..logs import configure_logging
from ..modes import TeacherKind
from ..resources import TINY_STUDENT as DEMO_STUDENT
from ..review.queue import QueueFilter
from ..review.sample_view import SampleView
from ..states import ACTIVE_JOB, RESUMABLE, UNDECIDED, JobStatus, Phase, PhaseStatus, ReviewAction, RevisionStatus
from ..store import Store
from ..tasks.datasets import PRESETS, ColumnMapping
from .accounts import AccountsArea
from .exports import ExportsArea
from .insights import MetricsArea
from .maintenance import MaintenanceArea
from .projects import ProjectsArea
from .review import ReviewArea
from .rounds import RoundsArea
from .students import StudentsArea

Workspace = Store  # what a page holds on to between script runs: the open workspace, only ever passed to Studio

__all__ = ["Studio", "User", "UserKind", "Role", "ROLES", "SESSION_SECONDS", "Permission", "AccessDenied", "EladError",
           "ConfigError", "QueueFilter", "SampleView", "ColumnMapping", "PRESETS", "ACTIVE_JOB", "RESUMABLE",
           "UNDECIDED", "JobStatus", "Phase", "PhaseStatus", "ReviewAction", "RevisionStatus", "Workspace",
           "open_workspace", "ensure_worker", "live_workers", "STALE_S", "ProjectConfig",
           "configure_logging", "TeacherKind", "DEMO_STUDENT"]


class Studio:
    """The workspace as `user` may use it."""

    AREAS = {"projects": ProjectsArea, "rounds": RoundsArea, "review": ReviewArea, "metrics": MetricsArea,
             "exports": ExportsArea, "accounts": AccountsArea, "maintenance": MaintenanceArea,
             "students": StudentsArea}

    def __init__(self, workspace: Workspace, user: User):
        if not isinstance(user, User):
            raise AccessDenied(f"a Studio needs the acting user, not {user!r}")
        self.user = user
        self.projects = ProjectsArea(workspace, user)
        self.rounds = RoundsArea(workspace, user)
        self.review = ReviewArea(workspace, user)
        self.metrics = MetricsArea(workspace, user)
        self.exports = ExportsArea(workspace, user)
        self.accounts = AccountsArea(workspace, user)
        self.maintenance = MaintenanceArea(workspace, user)
        self.students = StudentsArea(workspace, user)
        self.workspace_dir = workspace.workspace

    @classmethod
    def open(cls, workspace: str | Path, user: User) -> Studio:
        return cls(open_workspace(workspace), user)

    def can(self, permission: Permission) -> bool:
        return self.user.may(permission)


def open_workspace(path: str | Path) -> Workspace:
    """Open (creating or migrating) the workspace folder `path`."""
    return Store(path)


def live_workers(workspace: Workspace) -> list[int]:
    """The OS pids of the workers that beat their heartbeat lately (none: the app starts one)."""
    return workspace.workers.live(STALE_S)
