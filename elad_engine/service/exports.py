"""The export area of the service: the trained rounds and the best one, building an export as a worker job (or
in this process, for the CLI and the worker), the finished exports and zips of their folders."""

from __future__ import annotations

from pathlib import Path

from .. import export
from ..accounts import Permission
from ..errors import EladError
from ..jobs.queue import active_job, enqueue_export, request_stop
from ..states import JobKind, JobStatus
from ..store.jobs import JobRow
from .access import Area, action


class ExportsArea(Area):
    @action(Permission.READ)
    def trained_rounds(self, project_id: int) -> list[int]:
        return [r["round"] for r in self.store.training_runs.list(project_id)]

    @action(Permission.READ)
    def best_round(self, project_id: int) -> int:
        """The evaluated round with the highest test accuracy (the latest on ties) that has a checkpoint."""
        return export.best_round(self.store, project_id)

    @action(Permission.READ)
    def job(self, project_id: int) -> JobRow | None:
        return active_job(self.store, project_id, JobKind.EXPORT)

    @action(Permission.READ)
    def list(self, project_id: int) -> list[dict]:
        """The project's finished exports (default folders), newest round first."""
        return export.exports(self.store, project_id)

    @action(Permission.REVIEW)
    def try_student(self, project_id: int, rnd: int, question: str) -> int:
        """Queue a job in which round `rnd`'s student answers `question`; returns the job id (see `tried`)."""
        from ..rounds.try_out import check_question
        if self.store.training_runs.get(project_id, rnd) is None:
            raise EladError(f"Round {rnd} has no trained student yet: pick a round whose training has finished.")
        return self.store.jobs.enqueue(project_id, JobKind.TRY, {"round": rnd, "question": check_question(question)})

    @action(Permission.READ)
    def tried(self, project_id: int) -> JobRow | None:
        """The project's latest try-the-student job (its `result` holds the answer once it is done)."""
        jobs = self.store.jobs.list(project_id, JobKind.TRY)
        return jobs[-1] if jobs else None

    @action(Permission.REVIEW)
    def try_now(self, project_id: int, rnd: int, question: str) -> dict:
        """Answer in this process (the worker runs the queued job through this)."""
        from ..rounds.try_out import answer_question
        return answer_question(self.store, project_id, rnd, question)

    @action(Permission.READ)
    def gguf_unavailable(self) -> str | None:
        """Why an export cannot write GGUF files and a Modelfile here (None: it can)."""
        from ..export.gguf_files import unavailable
        return unavailable()

    @action(Permission.EXPORT)
    def start(self, project_id: int, rnd: int, merged: bool = True, gguf: bool | None = None) -> int:
        """Queue an export of round `rnd` for the worker (`gguf`: None where available, True required)."""
        return enqueue_export(self.store, project_id, rnd, merged, gguf)

    @action(Permission.EXPORT)
    def cancel(self, job_id: int) -> None:
        request_stop(self.store, job_id, JobStatus.CANCELLED)

    @action(Permission.EXPORT)
    def zip(self, folder: str | Path) -> Path:
        """A zip of an export folder beside it (rebuilt only when the folder is newer)."""
        return export.zip_folder(folder)

    @action(Permission.EXPORT)
    def build(self, project_id: int, rnd: int | None = None, out: str | Path | None = None,
              merged: bool = True, gguf: bool | None = None) -> dict[str, Path]:
        """Write the export in this process (default round: the best one); returns its parts' paths. `gguf`: None
        writes GGUF files and a Modelfile where llama.cpp's tools are installed, True requires them."""
        return export.export_round(self.store, project_id, rnd, out, merged=merged, gguf=gguf)
