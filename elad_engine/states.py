"""Every status the engine stores, as enums (each is also its string, so rows and JSON read as before), and the
sets of them that rules ask about ("undecided", "trainable", "active", ...), each defined once. The schema's
CHECK constraints (store/schema.sql) list the same values; tests/test_states.py keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum


class RevisionStatus(StrEnum):
    """A teacher revision on its way through review."""

    PENDING = "pending"  # waiting for a reviewer (or a review policy)
    TEACHER_FAILED = "teacher_failed"  # the teacher's reply was unusable: a reviewer edits or rejects it
    CONFLICT = "conflict"  # overlapping reviewers disagreed: an admin settles it
    APPROVED = "approved"
    EDITED = "edited"  # approved in a reviewer's own words
    REJECTED = "rejected"


UNDECIDED = frozenset({RevisionStatus.PENDING, RevisionStatus.TEACHER_FAILED, RevisionStatus.CONFLICT})
DECIDED = frozenset({RevisionStatus.APPROVED, RevisionStatus.EDITED, RevisionStatus.REJECTED})
TRAINABLE = frozenset({RevisionStatus.APPROVED, RevisionStatus.EDITED})  # what the student learns from


class ReviewAction(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"

    @property
    def status(self) -> RevisionStatus:
        """The revision status this decision leads to (when the review's overlap is reached and agrees)."""
        return {ReviewAction.APPROVE: RevisionStatus.APPROVED, ReviewAction.EDIT: RevisionStatus.EDITED,
                ReviewAction.REJECT: RevisionStatus.REJECTED}[self]


class TeacherOutcome(StrEnum):
    """How a teacher call for one sample ended (a TeacherResult's status)."""

    OK = "ok"
    FAILED = "teacher_failed"  # unusable after the repair call: the revision goes to review as teacher_failed


class JobStatus(StrEnum):
    """A job the web app (or the CLI) queued for the worker."""

    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"  # asked to stop: it stops at its next safe point, as PAUSED or CANCELLED
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"
    FAILED = "failed"


ACTIVE_JOB = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.STOPPING})  # holds its project
STOPPED_AS = (JobStatus.PAUSED, JobStatus.CANCELLED)  # what a stop request may ask a job to become
RESUMABLE = frozenset({JobStatus.PAUSED, JobStatus.CANCELLED, JobStatus.FAILED})  # a new job picks up the work


class JobKind(StrEnum):
    ROUNDS = "rounds"
    EXPORT = "export"
    REASK = "reask"  # ask the teacher again about one teacher_failed sample
    TRY = "try"  # answer one typed question with a round's student (the Export page's "Try the student")
    STUDENT = "student"  # fetch a student: a Hugging Face download, or a packaged model installed and registered


class RoundStatus(StrEnum):
    RUNNING = "running"  # started, not finished (a round under way always finishes before a new one starts)
    DONE = "done"


class PhaseStatus(StrEnum):
    """How a phase of a round ended; a phase with no row has not finished yet."""

    DONE = "done"
    WAITING = "waiting"  # the review phase waits for reviewers
    CLOSED = "closed"  # an admin closed the review: train on what is approved so far


class Phase(StrEnum):
    """The phases of a round, in the order they run (round 0, the warm-up, has its own order)."""

    BASELINE = "baseline"  # round 0: the starting student's accuracy, before any training
    EXPLAIN = "explain"
    SCORE = "score"
    SELECT = "select"
    REVISE = "revise"
    REVIEW = "review"
    TRAIN = "train"
    EVALUATE = "evaluate"


ROUND_PHASES = (Phase.EXPLAIN, Phase.SCORE, Phase.SELECT, Phase.REVISE, Phase.REVIEW, Phase.TRAIN, Phase.EVALUATE)
WARMUP_PHASES = (Phase.BASELINE, Phase.SELECT, Phase.REVISE, Phase.REVIEW, Phase.TRAIN, Phase.EVALUATE)


class SelectionStatus(StrEnum):
    SELECTED = "selected"
    OVER_BUDGET = "over_budget"  # the budget stopped it before the teacher saw it: back to the pool


class StopReason(StrEnum):
    """Why a run of the round loop returned."""

    COMPLETED = "completed"
    BUDGET = "budget"
    POOL_EMPTY = "pool_empty"
    REVIEW_PENDING = "review_pending"
    CANCELLED = "cancelled"
    MAX_ROUNDS = "max_rounds"
    TEACHER_UNAVAILABLE = "teacher_unavailable"  # the endpoint cannot be used now: resume when it is back


# What a person reads when a run stops (the job's message on the Rounds page), by reason.
STOP_WORDS = {StopReason.COMPLETED: "Finished", StopReason.BUDGET: "Stopped at the teacher budget",
              StopReason.POOL_EMPTY: "Stopped: nothing left to select", StopReason.REVIEW_PENDING: "Waiting for review",
              StopReason.CANCELLED: "Cancelled", StopReason.MAX_ROUNDS: "Stopped as asked",
              StopReason.TEACHER_UNAVAILABLE: "Paused: the teacher cannot be reached"}


class ExplanationKind(StrEnum):
    GREEDY = "greedy"
    SAMPLE = "sample"


# The stored columns each enum constrains (the schema's CHECK constraints; a test compares them).
CHECKED_COLUMNS = {("revisions", "status"): RevisionStatus, ("jobs", "status"): JobStatus, ("jobs", "kind"): JobKind,
                   ("rounds", "status"): RoundStatus, ("phases", "status"): PhaseStatus, ("phases", "phase"): Phase,
                   ("selections", "status"): SelectionStatus}
