"""What every phase of a round works with: the store and project, the config, the process group, the progress, log
and cancel callbacks, the teacher (built when first needed), the student as it stands at a given round (cached
between phases, released before a launch or a training run) and the project's prompt style (resolved once, then
kept in the store)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from ..store import Store
from ..store.database import FENCE_ENV
from ..student.distributed import LaunchCancelled, Processes, launch_command, run_launched, shown
from ..student.prompt_style import AUTO_SHOTS, PromptStyle, pick_exemplars, shot_count, style_kind
from ..tasks.registry import task_for

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_EXEMPLAR_DRAWS: dict[tuple, frozenset[str]] = {}  # (workspace, project, examples version, seed, k, task) -> ids


class Cancelled(Exception):
    """Raised at a safe point when the caller's cancel check says stop."""


class RoundContext:
    def __init__(self, store: Store, project_id: int, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None,
                 launch: bool = True):
        """launch=False: do scoring and training in this process (group) even when compute.processes > 1; the
        `score` and `train` commands use it, since they are what the launch runs."""
        self.store, self.project_id = store, project_id
        cfg = store.projects.config(project_id)
        self.procs = Processes(cpu=cfg.student.device == "cpu")
        self.cfg = self.procs.share(cfg)  # every rank plans from the main rank's reading
        self.task = task_for(self.cfg.task)  # how questions are shown and answers read and compared
        self.may_launch = launch and self.procs.world == 1
        self.progress = progress or (lambda phase, done, total: None)
        self.cancel = cancel or (lambda: False)
        self.log = log or (lambda msg: None)
        self._teacher = None
        self._student = None  # (key, Student)
        self._base_path: str | None = None
        self._teacher_checked = False
        self._style: PromptStyle | None = None

    @property
    def teacher(self):
        if self._teacher is None:  # built when first needed: a round with no teacher calls needs no API key
            from ..teachers.registry import make_teacher
            self._teacher = make_teacher(self.cfg.teacher)
        return self._teacher

    def check_teacher(self) -> None:
        """Before the first call of this run: an OpenAI-compatible endpoint must answer and list the configured
        model (a server that would serve another model under the requested name is refused). TeacherUnavailable
        otherwise, which pauses the round instead of failing its samples."""
        if self.cfg.teacher.kind == "openai" and not self._teacher_checked:
            from ..teachers.openai_compat import check_connection
            self.log(f"teacher: {check_connection(self.cfg.teacher)}")
            self._teacher_checked = True

    @property
    def device(self) -> str:
        return self.procs.device or self.cfg.student.device  # a launched rank uses the device accelerate gave it

    def round_dir(self, rnd: int) -> Path:
        return self.store.project_dir(self.project_id) / f"round-{rnd}"

    def check_cancel(self) -> None:
        if self.cancel():
            raise Cancelled()

    def unlabeled_pool(self) -> list[str]:
        """Pool example ids no round has selected yet (those the budget stopped go back to the pool), without the
        prompt style's exemplars."""
        labelled = self.store.selections.labelled_ids(self.project_id) | self.exemplar_ids()
        ids = self.store.examples.ids(self.project_id, "pool")
        if self.cfg.rounds.pool_limit:
            ids = ids[:self.cfg.rounds.pool_limit]
        return [i for i in ids if i not in labelled]

    @property
    def base_path(self) -> str:
        """The base student as from_pretrained is given it: a model folder (a GGUF file or a registered student
        resolved, converted once), or a hub id at the commit the project pinned (downloaded here when missing)."""
        if self._base_path is None:
            from ..student.gguf import model_folder
            from ..student.hub import parse_hub_id, project_student
            path, found = self.cfg.student.path, None
            if self.procs.is_main:
                ref = parse_hub_id(path)
                if ref is not None:
                    found = project_student(self.store, self.project_id, ref,
                                            lambda done, total: self.progress("download", done, total))
                    self.log(f"student {path}: {found} (from the Hugging Face cache)")
                else:
                    if path.lower().endswith(".gguf"):
                        self.log(f"student {path}: converting the GGUF file into the workspace (once)")
                    found = model_folder(self.store, path)
            self._base_path = self.procs.share(found)
        return self._base_path

    @property
    def base_model(self) -> str:
        """The base student as recorded with a checkpoint: a hub id at its commit, else student.path as given."""
        from ..student.hub import parse_hub_id
        return self.base_path if parse_hub_id(self.cfg.student.path) else self.cfg.student.path

    def exemplar_ids(self) -> set[str]:
        stored = self.store.projects.prompt_style(self.project_id)
        if stored and stored.get("requested") == self._requested_style():
            return {e["example_id"] for e in stored["style"].get("exemplars", [])}
        k = self.cfg.student.few_shot if self.cfg.student.few_shot >= 0 else max(AUTO_SHOTS.values())
        if not k:  # before the style is resolved: the exemplars it would draw (auto: as if chat)
            return set()
        # Drawing them reads the whole pool; the draw depends only on the pool, the seed, k and the task, so it is
        # kept per workspace and examples version (a page that estimates the next round reads it once).
        key = (str(self.store.workspace), self.project_id, self.store.examples.version(self.project_id),
               self.cfg.rounds.seed, k, self.cfg.task.answer_type)
        if key not in _EXEMPLAR_DRAWS:
            pool = self.store.examples.list(self.project_id, split="pool")
            try:
                _EXEMPLAR_DRAWS[key] = frozenset(e.example_id for e in pick_exemplars(pool, k, self.cfg.rounds.seed,
                                                                                      self.task))
            except ConfigError:  # too few rationales: the style's resolution will say so
                _EXEMPLAR_DRAWS[key] = frozenset()
        return set(_EXEMPLAR_DRAWS[key])

    def _requested_style(self) -> dict:
        return {"prompt_style": self.cfg.student.prompt_style, "few_shot": self.cfg.student.few_shot}

    def style(self, tokenizer) -> PromptStyle:
        """The project's prompt style: as stored, or resolved now (auto: chat when the tokenizer has a template;
        exemplars drawn from the pool's gold rationales) and stored, so every phase and rank uses the same one."""
        if self._style is None:
            stored = self.store.projects.prompt_style(self.project_id)
            if stored and stored.get("requested") == self._requested_style():
                self._style = PromptStyle.from_dict(stored["style"])
            else:
                pool = self.store.examples.list(self.project_id, split="pool")
                kind = style_kind(self.cfg.student.prompt_style, tokenizer)
                style = PromptStyle(kind, exemplars=pick_exemplars(
                    pool, shot_count(self.cfg.student.few_shot, kind), self.cfg.rounds.seed, self.task))
                if self.procs.is_main:
                    self.store.projects.set_prompt_style(self.project_id, {"requested": self._requested_style(),
                                                                           "style": style.to_dict()})
                    self.log(f"prompt style: {style.describe()}")
                self._style = style
        return self._style

    def student_for(self, rnd: int, after_training: bool = False):
        """The student as it stands at the start of round `rnd` (or after its training)."""
        from ..student.model import Student

        latest = self.store.training_runs.latest_checkpoint(self.project_id, rnd + 1 if after_training else rnd)
        s = self.cfg.student
        if latest is not None and (self._student is None or latest[0] not in self._student[0]):
            from ..student.checkpoint import check_checkpoint
            check_checkpoint(latest[0], latest[2], f"round {latest[3]}'s student")  # never a half-written one
        if latest is None:
            key = (self.base_path, s.adapter or None)
        elif latest[1] == "full":  # the checkpoint's own method says how to load it, whatever the config says now
            key = (latest[0], None)
        else:
            key = (self.base_path, latest[0])
        if self._student is None or self._student[0] != key:
            self.release_student()  # the old one is gone before the new one loads: never two in memory
            self._student = (key, Student.load(key[0], adapter=key[1], device=self.device, dtype=s.dtype))
        return self._student[1]

    def release_student(self) -> None:
        """Drop the cached student (training mutates weights; a launch's rank 0 needs the GPU memory)."""
        import gc

        import torch

        self._student = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def launches(self) -> bool:
        return self.may_launch and self.cfg.compute.processes > 1

    def launched(self, command: str, rnd: int) -> None:
        """Run `python -m elad_engine COMMAND` for this round under `accelerate launch`, and wait for it."""
        cmd = launch_command(self.cfg.compute, [command, "--workspace", str(self.store.workspace), "--project",
                                                self.store.projects.name_of(self.project_id), "--round", str(rnd)])
        self.release_student()  # rank 0 shares this process's GPU: leave it the memory
        self.log(f"round {rnd}: {command} on {self.cfg.compute.processes} processes: {shown(cmd)}")
        try:
            fence = self.store.database.fence  # the ranks write under the job's lease too
            run_launched(cmd, self.progress, self.cancel, f"{command} on {self.cfg.compute.processes} processes",
                         {FENCE_ENV: f"{fence[0]}:{fence[1]}"} if fence else None)
        except LaunchCancelled:
            raise Cancelled() from None
