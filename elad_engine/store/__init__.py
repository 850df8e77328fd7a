"""The workspace store, SQL only: the only code that touches SQLite (sqlite-utils, WAL mode). A workspace is a
folder holding `elad.db` and `artifacts/` (checkpoints, exports). `Store(workspace_dir)` opens it and offers one
repository per aggregate, e.g. `store.projects.config(project_id)` or `store.revisions.list(project_id, rnd)`:

  projects, examples            projects.py      the projects (name, config) and their imported examples
  rounds, phases                rounds.py        when each round ran and how each phase ended
  training_runs, metrics        results.py       what each round produced
  explanations, scores,         explanations.py  the student's explanations of the pool, their uncertainty
  selections                                     scores, and the selection sent to the teacher
  teacher_calls                 teacher_calls.py the ledger, the request cache and the spend
  revisions, reviews, claims    revisions.py     teacher revisions, the append-only review log, reviewer claims
  jobs, workers                 jobs.py          the job queue, its log and the workers' heartbeats
  users, sessions               people.py        accounts and their browser sessions
  students                      students.py      registered students (GGUF files converted to model folders)

The tables are in schema.sql; database.py holds the connection, transactions and migrations.
"""

from __future__ import annotations

from pathlib import Path

from .database import SCHEMA_VERSION, Database, statements
from .explanations import Explanations, Scores, Selections
from .jobs import Jobs, Workers
from .people import Sessions, Users
from .projects import PROJECT_NAME, Examples, Projects, check_project_name
from .results import Metrics, TrainingRuns
from .revisions import Claims, Reviews, Revisions
from .rounds import Phases, Rounds
from .students import Students
from .teacher_calls import TeacherCalls

__all__ = ["Store", "SCHEMA_VERSION", "PROJECT_NAME", "check_project_name", "statements"]


class Store:
    """One workspace: its database, its repositories and its artifacts folder."""

    def __init__(self, workspace: str | Path, busy_timeout_s: float = 60.0):
        self.database = Database(workspace, busy_timeout_s)
        self.workspace, self.path, self.db = self.database.workspace, self.database.path, self.database.db
        self.projects = Projects(self.database)
        self.examples = Examples(self.database, self.projects)
        self.rounds = Rounds(self.database)
        self.phases = Phases(self.database)
        self.training_runs = TrainingRuns(self.database)
        self.metrics = Metrics(self.database)
        self.explanations = Explanations(self.database)
        self.scores = Scores(self.database)
        self.selections = Selections(self.database)
        self.teacher_calls = TeacherCalls(self.database)
        self.revisions = Revisions(self.database, self.examples)
        self.reviews = Reviews(self.database)
        self.claims = Claims(self.database)
        self.jobs = Jobs(self.database)
        self.workers = Workers(self.database)
        self.users = Users(self.database)
        self.sessions = Sessions(self.database)
        self.students = Students(self.database)

    @property
    def artifacts(self) -> Path:
        return self.workspace / "artifacts"

    def project_dir(self, project_id: int) -> Path:
        """The project's folder of checkpoints and exports (its name is checked to be a safe folder name)."""
        return self.artifacts / self.projects.name_of(project_id)

    def transaction(self):
        """One write transaction; nested calls join it (see Database.transaction)."""
        return self.database.transaction()

    def schema_version(self) -> int:
        return self.database.schema_version()

    def table_counts(self) -> dict[str, int]:
        return self.database.table_counts()

    def close(self) -> None:
        self.database.close()
