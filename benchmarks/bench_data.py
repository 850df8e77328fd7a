"""What a learning benchmark runs on: the embedded demo (tiny student, oracle teacher), or a dataset file read with
its preset, a student and a teacher, from the same flags in every benchmark (headroom, uncertainty, efficiency):
`--data ../shared/datasets/svamp/SVAMP.json --preset svamp --student student:smollm2-135m --teacher reference`.
"""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

from elad_engine.config import parse_setting
from elad_engine.method.records import Example
from elad_engine.projects import create_demo_project, new_config
from elad_engine.store import Store
from elad_engine.tasks.datasets import read_dataset, resolve_layout
from elad_engine.tasks.presets import PRESETS

TEACHERS = ("oracle", "reference")


@dataclass(frozen=True)
class BenchData:
    """A benchmark's data, student and teacher; the same for every run of one grid (set before it runs)."""

    pool: int
    test: int
    data: Path | None = None  # None: the embedded task
    preset: str | None = None
    test_data: Path | None = None  # None: the test split is a seeded part of `data`, disjoint from the pool
    student: str | None = None  # None: the shipped tiny student (embedded task only)
    teacher: str = "oracle"
    settings: tuple[tuple[str, object], ...] = ()  # config overrides for every project of the run (--set)

    def __post_init__(self):
        if self.teacher not in TEACHERS:
            raise SystemExit(f"--teacher must be one of {', '.join(TEACHERS)}, not {self.teacher!r}")
        if self.data is None and (self.preset or self.test_data):
            raise SystemExit("--preset and --test-data read a dataset file: give it with --data")
        if self.data is not None and not self.data.is_file():
            raise SystemExit(f"--data {self.data}: no such file")
        if self.test_data is not None and not self.test_data.is_file():
            raise SystemExit(f"--test-data {self.test_data}: no such file")

    @property
    def embedded(self) -> bool:
        return self.data is None

    def describe(self) -> str:
        data = "the embedded task" if self.embedded else f"{self.data.name} ({self.preset or 'mapped'})"
        return (f"{data}, pool {self.pool}, test {self.test}, student {self.student or 'the shipped tiny student'}, "
                f"{self.teacher} teacher")

    def examples(self, seed: int = 0) -> list[Example]:
        """Pool and test rows: a seeded draw of `pool` (and, without a test file, `test` more) from the file.
        The draw depends on `seed` only, so every strategy of a grid sees the same pool and test."""
        rows = [e for e in read_dataset(self.data, preset=self.preset, split="pool") if e.answer]
        random.Random(seed).shuffle(rows)
        if self.test_data is not None:
            tests = [e for e in read_dataset(self.test_data, preset=self.preset, split="test") if e.answer]
            random.Random(seed + 1).shuffle(tests)
        else:
            rows, tests = rows[:self.pool], rows[self.pool:]
        need = (self.pool, self.test)
        if len(rows) < need[0] or len(tests) < need[1]:
            raise SystemExit(f"{self.data}: {len(rows)} pool and {len(tests)} test rows with an answer, fewer than "
                             f"the pool {need[0]} and test {need[1]} asked for")
        return ([replace(e, split="pool") for e in rows[:self.pool]]
                + [replace(e, split="test") for e in tests[:self.test]])

    def create(self, store: Store, name: str, data_seed: int = 0, **overrides) -> int:
        """A new project `name` in `store` on this data, student and teacher, with `overrides` on top."""
        overrides = {"teacher.kind": self.teacher, **overrides, **dict(self.settings)}
        if self.embedded:
            return create_demo_project(store, name=name, pool=self.pool, test=self.test, student=self.student,
                                       **overrides)
        layout = resolve_layout(preset=self.preset)
        cfg = new_config(self.student, **{"task.answer_type": layout.answer_type, "task.dataset": layout.name,
                                          "review.policy": "auto-approve", **overrides})
        with store.transaction():
            pid = store.projects.create(name, cfg)
            store.examples.add(pid, self.examples(data_seed), source=f"{self.data} (seeded draw {data_seed})")
        return pid


def add_arguments(ap: argparse.ArgumentParser, pool: int, test: int) -> None:
    ap.add_argument("--pool", type=int, default=pool, help="pool size")
    ap.add_argument("--test", type=int, default=test, help="test questions")
    ap.add_argument("--data", type=Path, help="a dataset file (default: the embedded task)")
    ap.add_argument("--preset", choices=sorted(PRESETS), help="the dataset file's layout")
    ap.add_argument("--test-data", type=Path, help="the test split's own file (default: a seeded part of --data)")
    ap.add_argument("--student", help="student.path: a registered student (student:NAME), a folder or a Hugging Face "
                    "id (default: the shipped tiny student)")
    ap.add_argument("--teacher", choices=TEACHERS, default="oracle",
                    help="oracle (the embedded task's exact solver), or reference: revisions from the data's own "
                         "solutions, no paid teacher")
    ap.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE",
                    help="config settings for every project of the run, e.g. student.max_new_tokens=256")


def registered_folder(student: str | None) -> str | None:
    """A registered student (`student:NAME`, in $ELAD_WORKSPACE or ./workspace) as its model folder: every project of
    a benchmark lives in a workspace of its own, where no student is registered."""
    if not student or not student.startswith("student:"):
        return student
    from elad_engine.student.gguf import model_folder

    return model_folder(Store(os.environ.get("ELAD_WORKSPACE") or "workspace"), student)


def from_args(args: argparse.Namespace) -> BenchData:
    return BenchData(pool=args.pool, test=args.test, data=args.data, preset=args.preset, test_data=args.test_data,
                     student=registered_folder(args.student), teacher=args.teacher,
                     settings=tuple(parse_setting(item) for item in args.set))
