"""The review area of the service: the queue of a round as the acting reviewer sees it, one sample step by step,
claims, the decisions (approve / edit / reject / bulk approve / bulk reject / undo) and the review guidelines. The
acting user's name is the reviewer's; a decided round goes on by itself (training onwards) once nothing of it is
left undecided."""

from __future__ import annotations

import time

from ..accounts import Permission, require
from ..errors import StoreError
from ..review import decisions
from ..review.queue import QueueFilter, QueueRow, claim, progress, queue
from ..review.sample_view import SampleView, sample
from ..states import JobKind, Phase, PhaseStatus, ReviewAction, RevisionStatus
from .access import Area, action


class ReviewArea(Area):
    @action(Permission.READ)
    def rounds(self, project_id: int) -> list[int]:
        """The rounds that have revisions to look at."""
        return self.store.revisions.rounds(project_id)

    @action(Permission.READ)
    def queue(self, project_id: int, flt: QueueFilter) -> list[QueueRow]:
        """The filtered queue; for a user who may review, without the samples other reviewers hold or that this
        reviewer already decided."""
        reviewer = self.user.name if self.user.may(Permission.REVIEW) and self.user.name else None
        return queue(self.store, project_id, flt, reviewer)

    @action(Permission.READ)
    def progress(self, project_id: int, rnd: int | None = None) -> tuple[int, int]:
        """(decided, total) revisions of the round (or of all rounds)."""
        return progress(self.store, project_id, rnd)

    @action(Permission.READ)
    def sample(self, revision_id: int) -> SampleView:
        return sample(self.store, revision_id)

    @action(Permission.READ)
    def phase(self, project_id: int, rnd: int) -> PhaseStatus | None:
        """How the round's review phase stands: None (not reached), waiting, closed or done."""
        return self.store.phases.status(project_id, rnd, Phase.REVIEW)

    @action(Permission.READ)
    def claims(self, project_id: int, rnd: int) -> list[dict]:
        """Who holds which undecided sample of the round, and for how many more seconds (`seconds_left`)."""
        now = time.time()
        return [dict(c, seconds_left=max(0.0, c["expires_at"] - now))
                for c in self.store.claims.of_round(project_id, rnd)]

    @action(Permission.SETTLE)
    def release_claims(self, project_id: int, rnd: int) -> int:
        """Free every sample of the round that a reviewer holds (an admin's action): the number freed."""
        return self.store.claims.release([c["revision_id"] for c in self.store.claims.of_round(project_id, rnd)])

    @action(Permission.REVIEW)
    def claim(self, revision_id: int) -> bool:
        """Hold the sample shown to this reviewer, so nobody else is handed it; False if someone else holds it."""
        return claim(self.store, revision_id, self._reviewer())

    @action(Permission.REVIEW)
    def decide(self, revision_id: int, action: str, steps: list[str] | None = None, answer: str | None = None,
               reason: str | None = None) -> RevisionStatus:
        """approve | edit (the reviewer's steps and answer) | reject (a reason); a conflict is an admin's to settle.
        Returns the revision's new status."""
        rev = self.store.revisions.get(revision_id)
        if rev["status"] == RevisionStatus.CONFLICT:
            self._require(Permission.SETTLE)  # reviewers disagreed: an admin settles it
        status = decisions.decide(self.store, revision_id, action, self._reviewer(), steps=steps, answer=answer,
                                  reason=reason)
        decisions.continue_if_decided(self.store, rev["project_id"], rev["round"])
        return status

    @action(Permission.REVIEW)
    def bulk_approve(self, project_id: int, rnd: int, revision_ids: list[int]) -> int:
        """Approve every listed pending revision with usable text; returns how many were approved."""
        n = decisions.bulk_approve(self.store, revision_ids, self._reviewer())
        decisions.continue_if_decided(self.store, project_id, rnd)
        return n

    @action(Permission.REVIEW)
    def bulk_reject(self, project_id: int, rnd: int, revision_ids: list[int], reason: str) -> int:
        """Reject every listed undecided revision (not a conflict) with one reason; returns how many."""
        n = decisions.bulk_decide(self.store, revision_ids, self._reviewer(), ReviewAction.REJECT, reason)
        decisions.continue_if_decided(self.store, project_id, rnd)
        return n

    @action(Permission.REVIEW)
    def undo_last(self, project_id: int, rnd: int) -> int:
        """Withdraw the acting reviewer's latest decision of the round (an appended undo row); the revision id."""
        return decisions.undo_last(self.store, project_id, rnd, self._reviewer())

    @action(Permission.READ)
    def last_decision(self, project_id: int, rnd: int) -> dict | None:
        """The acting user's latest decision of the round that an undo would withdraw (None when there is none)."""
        return self.store.reviews.last_by(project_id, rnd, self.user.name) if self.user.name else None

    @action(Permission.READ)
    def guidelines(self, project_id: int) -> str:
        """The project's review guidelines (markdown), shown above every sample."""
        return self.store.projects.guidelines(project_id)

    @action(Permission.CONFIGURE)
    def set_guidelines(self, project_id: int, text: str) -> None:
        if len(text or "") > 20_000:
            raise StoreError(f"the review guidelines are {len(text):,} characters; keep them under 20,000.")
        self.store.projects.set_guidelines(project_id, (text or "").strip())

    @action(Permission.REVIEW)
    def ask_again(self, revision_id: int) -> int:
        """Queue a job that asks the teacher again about a teacher_failed sample; returns the job id."""
        rev = self.store.revisions.get(revision_id)
        if rev["status"] != RevisionStatus.TEACHER_FAILED:
            raise StoreError(f"revision {revision_id} is {rev['status']}: only a teacher_failed sample is asked again")
        return self.store.jobs.enqueue(rev["project_id"], JobKind.REASK, {"revision_id": revision_id})

    @action(Permission.REVIEW)
    def ask_again_now(self, revision_id: int) -> str:
        """Ask the teacher again in this process (the worker runs the queued job through this)."""
        from ..rounds.context import RoundContext
        from ..rounds.phases.revise import ask_again
        rev = self.store.revisions.get(revision_id)
        return ask_again(RoundContext(self.store, rev["project_id"]), revision_id)

    def _reviewer(self) -> str:
        if not self.user.name:
            raise StoreError("A review needs the reviewer's name: enter it in the sidebar.")
        return self.user.name

    def _require(self, permission: Permission) -> None:
        require(self.user, permission)
