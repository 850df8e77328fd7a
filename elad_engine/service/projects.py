"""The projects area of the service: the project list with what each has reached, the demo project, dataset
uploads, previews and imports, and a project's settings (with a teacher connection test)."""

from __future__ import annotations

from pathlib import Path

from ..accounts import Permission
from ..config import ProjectConfig, TeacherConfig
from ..method.records import Example
from ..modes import TeacherKind
from ..projects import DEMO_PROJECT, create_demo_project, import_file, preview_file, save_upload
from ..tasks.datasets import ColumnMapping
from ..tasks.mapping import parse_label_map
from .access import Area, action


class ProjectsArea(Area):
    @action(Permission.READ)
    def names(self) -> list[str]:
        return [p["name"] for p in self.store.projects.list()]

    @action(Permission.READ)
    def id_of(self, name: str) -> int:
        return self.store.projects.id_of(name)

    @action(Permission.READ)
    def exists(self, name: str) -> bool:
        return self.store.projects.find(name) is not None

    @action(Permission.READ)
    def config(self, project_id: int) -> ProjectConfig:
        return self.store.projects.config(project_id)

    @action(Permission.READ)
    def summaries(self) -> list[dict]:
        """One row per project for the project list: data, method, rounds done and the best accuracy so far."""
        rows = []
        for p in self.store.projects.list():
            cfg, counts = self.store.projects.config(p["id"]), self.store.examples.counts(p["id"])
            acc = [m["accuracy"] for m in self.store.metrics.list(p["id"]) if m["accuracy"] is not None]
            rows.append({"project": p["name"], "pool": counts.get("pool", 0), "test": counts.get("test", 0),
                         "strategy": cfg.selection.strategy, "teacher": f"{cfg.teacher.kind} · {cfg.teacher.model}",
                         "review": cfg.review.policy, "rounds done": len(self.store.rounds.done(p["id"])),
                         "best accuracy": max(acc) if acc else None})
        return rows

    @action(Permission.READ)
    def example_counts(self, project_id: int) -> dict[str, int]:
        return self.store.examples.counts(project_id)

    @action(Permission.CONFIGURE)
    def create_demo(self, pool: int = 400, test: int = 400, name: str = DEMO_PROJECT, student: str | None = None,
                    **overrides) -> int:
        """Create (or reuse, with new settings) the embedded demo project; `student` is a student.path value (e.g.
        student:smollm2-135m for the real pretrained student; default the shipped tiny one)."""
        project_id = create_demo_project(self.store, name=name, pool=pool, test=test, student=student, **overrides)
        self._pin_student(project_id)
        return project_id

    @action(Permission.READ)
    def new_config(self, student: str | None = None, **overrides) -> ProjectConfig:
        """A new project's settings for this student (a pretrained one gets LoRA and batch settings that suit it),
        with `overrides` (section.field values) on top."""
        from ..projects import new_config
        return new_config(student, **overrides)

    @action(Permission.CONFIGURE)
    def create(self, name: str, config: ProjectConfig) -> int:
        """An empty project with these settings (import its data next)."""
        project_id = self.store.projects.create(name, config)
        self._pin_student(project_id)
        return project_id

    @action(Permission.CONFIGURE)
    def save_upload(self, name: str, data: bytes) -> Path:
        return save_upload(self.store, name, data)

    @action(Permission.CONFIGURE)
    def preview_file(self, path: str | Path, **options) -> tuple[list[Example], list[str]]:
        """The parsed rows and the problems of a dataset file (empty when it would import cleanly)."""
        return preview_file(path, **options)

    @action(Permission.CONFIGURE)
    def peek_file(self, path: str | Path, file_format: str | None = None) -> tuple[list[str], list[dict], list[str]]:
        """(columns, first rows, problems) of a dataset file, before any mapping (the guided setup's preview)."""
        from ..tasks.detect import peek
        return peek(path, file_format)

    @action(Permission.CONFIGURE)
    def suggest_layout(self, columns: list[str]) -> dict:
        """{"preset", "mapping"} that these columns suggest: a guess for the user to check."""
        from ..tasks.detect import suggest
        return suggest(columns)

    @action(Permission.CONFIGURE)
    def estimate_cost(self, examples: list[Example], config: ProjectConfig) -> dict:
        """What the warm-up, one round and all rounds of `config` should cost on these examples (typical, worst)."""
        from ..rounds.estimate import estimate_for
        return estimate_for(examples, config.validate())

    @action(Permission.CONFIGURE)
    def parse_label_map(self, text: str) -> dict[str, str]:
        """`true=yes,false=no` as the mapping's label map (ConfigError names a bad pair)."""
        return parse_label_map(text)

    @action(Permission.CONFIGURE)
    def import_file(self, project: str, path: str | Path, mapping: ColumnMapping | dict | None = None,
                    **options) -> tuple[int, int]:
        """Import a whole file into `project` (created when missing): (project id, rows), or nothing at all."""
        project_id, rows = import_file(self.store, project, path, mapping=mapping, **options)
        self._pin_student(project_id)
        return project_id, rows

    @action(Permission.CONFIGURE)
    def save_settings(self, project_id: int, config: ProjectConfig) -> None:
        self.store.projects.set_config(project_id, config)
        self._pin_student(project_id)

    @action(Permission.CONFIGURE)
    def set(self, project_id: int, **dotted) -> ProjectConfig:
        """Change some settings by `section.field` name; returns the new config."""
        cfg = self.store.projects.config(project_id).with_overrides(**dotted)
        self.store.projects.set_config(project_id, cfg)
        self._pin_student(project_id)
        return cfg

    @action(Permission.READ)
    def student_source(self, project_id: int) -> dict | None:
        """The project's student as resolved: a hub id's pinned commit ({"path", "repo_id", "commit", ...})."""
        return self.store.projects.student_source(project_id)

    @action(Permission.CONFIGURE)
    def check_fit(self, examples: list[Example], config: ProjectConfig) -> list[dict]:
        """The fit check of `config` on parsed rows, before they are imported (the guided setup's last step):
        {"check", "message", "refuses", "overridden"} per finding; costs seconds, never a model load."""
        from ..rounds.fit_check import DataFacts, finding_rows, fit_of
        return finding_rows(fit_of(self.store, config.validate(), DataFacts.of(examples)), config)

    def _pin_student(self, project_id: int) -> None:
        """A student named by its hub id and already in the cache is pinned to its commit now (no network)."""
        from ..student.hub import pin_if_cached
        pin_if_cached(self.store, project_id, self.store.projects.config(project_id).student.path)

    @action(Permission.CONFIGURE)
    def check_teacher(self, teacher: TeacherConfig) -> str:
        """Whether an OpenAI-compatible endpoint answers and serves the model (lists models; costs nothing)."""
        if TeacherKind(teacher.kind).simulated:
            return f"{teacher.kind} (built in, simulated: nothing to connect to)"
        from ..teachers.openai_compat import check_connection
        return check_connection(teacher)
