"""The students area of the service: the students a project can pick (the shipped demo student, the ones registered
in the workspace, the packaged ones that install in one click, and any Hugging Face id), describing one without
loading it, and fetching one as a worker job: a Hugging Face download with progress, or a packaged student's
install and registration. A page only queues the job; the worker runs `fetch_now`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..accounts import Permission
from ..resources import TINY_STUDENT
from ..states import JobKind
from ..store.jobs import JobRow
from ..store.students import StudentRow
from .access import Area, action

DEMO_LABEL = "Tiny demo student: for the embedded arithmetic task only (shipped, 3.2M, trained from scratch)"


class StudentsArea(Area):
    @action(Permission.READ)
    def choices(self) -> dict[str, str]:
        """student.path value -> label, for pickers: the shipped demo student, then the registered ones."""
        out = {TINY_STUDENT: DEMO_LABEL}
        out.update({f"student:{s['name']}": s["label"] for s in self.store.students.list()})
        return out

    @action(Permission.READ)
    def packaged(self) -> list[dict]:
        """The students that install from the package registry in one click, and whether each is registered:
        {"name", "label", "requirement", "size_mb", "base_model_id", "registered"}."""
        from ..student.packaged import PACKAGED
        registered = {s["name"] for s in self.store.students.list()}
        return [{"name": p.name, "label": p.label, "requirement": p.requirement, "size_mb": p.size_mb,
                 "base_model_id": p.base_model_id, "registered": p.name in registered} for p in PACKAGED.values()]

    @action(Permission.READ)
    def list(self) -> list[StudentRow]:
        return self.store.students.list()

    @action(Permission.READ)
    def describe(self, path: str) -> dict:
        """Architecture, parameters, size on disk, chat template and the device a round would use, without loading
        the model; a Hugging Face id is read from the cache (downloaded: False when a job must fetch it first)."""
        from ..student.describe import describe_student
        return describe_student(self.store, path)

    @action(Permission.CONFIGURE)
    def add_gguf(self, name: str, path: str | Path, label: str | None = None,
                 base_model_id: str | None = None) -> StudentRow:
        """Convert the GGUF file into the workspace (once per file) and register it as `student:NAME`;
        `base_model_id` is the hub id of the model it packages (exports name it as their base)."""
        from ..student.gguf import register_gguf
        return register_gguf(self.store, name, path, label, base_model_id)

    @action(Permission.CONFIGURE)
    def download(self, hub_id: str) -> int:
        """Queue a worker job that downloads a Hugging Face id (`org/name[@revision]`) into the cache."""
        from ..errors import StudentError
        from ..student.hub import parse_hub_id
        if parse_hub_id(hub_id) is None:
            raise StudentError(f"{hub_id!r} is not a Hugging Face id: write it as org/name or org/name@revision, e.g. "
                               "HuggingFaceTB/SmolLM2-135M-Instruct.")
        return self._enqueue({"hub_id": hub_id})

    @action(Permission.CONFIGURE)
    def install(self, name: str) -> int:
        """Queue a worker job that installs a packaged student (e.g. smollm2-135m) and registers it."""
        from ..student.packaged import packaged
        return self._enqueue({"package": packaged(name).name})

    @action(Permission.READ)
    def job(self, job_id: int) -> JobRow:
        return self.store.jobs.get(job_id)

    @action(Permission.READ)
    def latest_job(self, **args) -> JobRow | None:
        """The latest student job with these args (e.g. hub_id="org/name"), so a page shows its progress."""
        jobs = [j for j in self.store.jobs.list(kind=JobKind.STUDENT) if all(j["args"].get(k) == v
                                                                              for k, v in args.items())]
        return jobs[-1] if jobs else None

    @action(Permission.CONFIGURE)
    def fetch_now(self, args: dict, progress: Callable[[int, int], None] | None = None,
                  log: Callable[[str], None] = lambda line: None) -> dict:
        """Run a student job's work in this process (the worker does; a page never does): {"student", "note"}."""
        if "package" in args:
            from ..student.packaged import install_packaged
            row = install_packaged(self.store, args["package"], log)
            return {"student": f"student:{row['name']}", "note": f"{row['parameters'] or 0:,} parameters, "
                    f"registered as student:{row['name']}"}
        from ..student.hub import download, parse_hub_id
        commit, folder = download(parse_hub_id(args["hub_id"]), progress)
        log(f"{args['hub_id']}: commit {commit} in {folder}")
        return {"student": args["hub_id"], "commit": commit, "note": f"commit {commit[:12]} in the Hugging Face cache"}

    def _enqueue(self, args: dict) -> int:
        """One job per student at a time: an active one with the same args is returned instead of a second."""
        from ..states import ACTIVE_JOB
        active = self.latest_job(**args)
        if active is not None and active["status"] in ACTIVE_JOB:
            return active["id"]
        return self.store.jobs.enqueue(None, JobKind.STUDENT, args)
