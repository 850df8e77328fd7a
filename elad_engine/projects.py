"""Creating projects: the embedded demo in one call, or from a dataset file (previewed first, imported whole or
not at all). The CLI and the web app's Projects page both call these."""

from __future__ import annotations

import re
from pathlib import Path

from .config import ProjectConfig
from .errors import ConfigError, DatasetError, StoreError
from .method.records import Example
from .resources import TINY_STUDENT
from .store import Store, check_project_name
from .tasks.datasets import ColumnMapping, read_dataset, resolve_layout

DEMO_PROJECT = "demo"
# The demo with a pretrained instruct student instead of the tiny one: its chat template and 3 worked exemplars
# (auto), LoRA at a rate for a pretrained model, generation and training batches a CPU copes with, and activations
# recomputed in the backward pass (SmolLM2 on 32 GSM8K samples: peak memory 5.3 GB against 10.0, 30% slower, the
# same loss; python -m benchmarks.training_memory, README).
REAL_STUDENT = {"student.prompt_style": "auto", "student.few_shot": -1, "student.batch_size": 16,
                "training.learning_rate": 2e-4, "training.batch_size": 8, "training.epochs": 2,
                "training.gradient_checkpointing": True}


def student_settings(student: str | None) -> dict:
    """The settings that suit a student: a pretrained one (not the shipped tiny one) gets REAL_STUDENT."""
    return {**REAL_STUDENT, "student.path": student} if student and student != TINY_STUDENT else {}


def new_config(student: str | None = None, **overrides) -> ProjectConfig:
    """A new project's config for this student (its suitable settings first, `overrides` on top), validated."""
    return ProjectConfig().with_overrides(**{**student_settings(student), **overrides})


def demo_config(**overrides) -> ProjectConfig:
    """The embedded default: synthetic arithmetic, the shipped tiny student, the oracle teacher."""
    cfg = ProjectConfig()
    cfg.rounds.warmup, cfg.rounds.rounds, cfg.selection.round_budget = 8, 3, 48
    cfg.training.epochs = 10  # the tiny student learns a skill from tens of samples in 10 passes, not in 4 (headroom)
    cfg.review.policy = "auto-approve"
    return cfg.with_overrides(**overrides) if overrides else cfg.validate()


def create_demo_project(store: Store, name: str = DEMO_PROJECT, pool: int = 400, test: int = 400,
                        student: str | None = None, **overrides) -> int:
    """Create (or reuse) the demo project with its synthetic pool and test split; a pretrained `student` (not the
    shipped tiny one) gets the settings that suit it (REAL_STUDENT)."""
    from .tasks.synthetic import default_dataset

    overrides = {**student_settings(student), **overrides}

    project_id = store.projects.find(name)
    if project_id is None:
        check_project_name(name)
        with store.transaction():  # the project and its rows land together, or neither does
            project_id = store.projects.create(name, demo_config(**overrides))
            store.examples.add(project_id, default_dataset(pool, test),
                               source=f"synthetic:pool={pool},test={test},seed=1234")
    elif overrides:  # an existing demo keeps its data; new round settings apply (e.g. more rounds)
        store.projects.set_config(project_id, store.projects.config(project_id).with_overrides(**overrides))
    return project_id


MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # the same cap as server.maxUploadSize in .streamlit/config.toml


def save_upload(store: Store, name: str, data: bytes) -> Path:
    """An uploaded dataset saved under the workspace's uploads/ folder, never outside it."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise StoreError(f"the upload {safe_upload_name(name)!r} is {len(data) / 1e6:,.0f} MB, over the limit of "
                         f"{MAX_UPLOAD_BYTES / 1e6:,.0f} MB; import a file this large from a path on the server.")
    folder = (store.workspace / "uploads").resolve()
    target = (folder / safe_upload_name(name)).resolve()
    if target.parent != folder:
        raise StoreError(f"the upload name {name!r} would leave the uploads folder")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def safe_upload_name(name: str) -> str:
    """A browser-supplied file name reduced to its last part, without anything that could climb folders."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", base).lstrip(".")
    if not base:
        raise StoreError(f"the uploaded file name {name!r} has no usable characters")
    return base[:120]


def preview_file(path: str | Path, mapping: ColumnMapping | dict | None = None, preset: str | None = None,
                 answer_type: str | None = None, split: str = "auto", test_fraction: float = 0.2,
                 seed: int = 0, file_format: str | None = None) -> tuple[list[Example], list[str]]:
    """The parsed rows and the problems (empty when the file would import cleanly)."""
    try:
        return read_dataset(path, mapping=mapping, preset=preset, answer_type=answer_type, split=split,
                            test_fraction=test_fraction, seed=seed, file_format=file_format), []
    except DatasetError as e:
        return [], list(getattr(e, "problems", None) or [str(e)])


def check_task_fits(store: Store, project: str, project_id: int, layout) -> None:
    """An import into an existing project must read answers as the project does, with the same layout."""
    task = store.projects.config(project_id).task
    if layout.answer_type != task.answer_type:
        raise ConfigError(f"project {project!r} compares answers as {task.answer_type}, but this file is read as "
                          f"{layout.answer_type} ({'preset ' + layout.name if layout.name != 'custom' else 'asked'}); "
                          f"import it into a new project, or read it with --answer-type {task.answer_type}")
    if task.dataset and layout.name != task.dataset:
        raise ConfigError(f"project {project!r} holds rows read with {_layout_name(task.dataset)}; this file is read "
                          f"with {_layout_name(layout.name)}. Use the same layout, or import it into a new project")


def _layout_name(name: str) -> str:
    return "a column mapping" if name == "custom" else f"the preset {name}"


def import_file(store: Store, project: str, path: str | Path, mapping: ColumnMapping | dict | None = None,
                preset: str | None = None, answer_type: str | None = None, split: str = "auto",
                test_fraction: float = 0.2, seed: int = 0, config: ProjectConfig | None = None,
                file_format: str | None = None) -> tuple[int, int]:
    """Import a whole file into `project` (created when missing): (project id, rows). Any bad row refuses the
    file before anything is written, and a refused file never creates its project. Into an existing project, the
    answer type defaults to the project's and must be it, and the layout (preset) must be the one used before."""
    project_id = store.projects.find(project)
    if project_id is not None and answer_type is None and preset is None:
        answer_type = store.projects.config(project_id).task.answer_type
    layout = resolve_layout(mapping, preset, answer_type, file_format)
    if project_id is not None:
        check_task_fits(store, project, project_id, layout)
    examples = read_dataset(path, mapping=mapping, preset=preset, answer_type=answer_type, split=split,
                            test_fraction=test_fraction, seed=seed, file_format=file_format)
    if project_id is None:
        check_project_name(project)
    with store.transaction():  # the new project and its rows land together, or neither does
        if project_id is None:
            cfg = (config or ProjectConfig()).with_overrides(**{"task.answer_type": layout.answer_type,
                                                                "task.dataset": layout.name})
            project_id = store.projects.create(project, cfg)
        elif not store.projects.config(project_id).task.dataset:
            store.projects.set_config(project_id, store.projects.config(project_id).with_overrides(
                **{"task.dataset": layout.name}))
        return project_id, store.examples.add(project_id, examples, source=str(path))
