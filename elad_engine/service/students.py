"""The students area of the service: the students a project can pick (the shipped tiny student and the ones
registered in the workspace), and registering a GGUF file as a student (converted once into the workspace)."""

from __future__ import annotations

from pathlib import Path

from ..accounts import Permission
from ..resources import TINY_STUDENT
from ..store.students import StudentRow
from .access import Area, action


class StudentsArea(Area):
    @action(Permission.READ)
    def choices(self) -> dict[str, str]:
        """student.path value -> label, for pickers: the shipped tiny student, then the registered ones."""
        out = {TINY_STUDENT: "Tiny demo student (shipped, 3.2M, trained from scratch)"}
        out.update({f"student:{s['name']}": s["label"] for s in self.store.students.list()})
        return out

    @action(Permission.READ)
    def list(self) -> list[StudentRow]:
        return self.store.students.list()

    @action(Permission.READ)
    def describe(self, path: str) -> dict:
        """Architecture, parameters, size on disk and the device a round would use, without loading the model."""
        from ..student.describe import describe_student
        return describe_student(self.store, path)

    @action(Permission.CONFIGURE)
    def add_gguf(self, name: str, path: str | Path, label: str | None = None) -> StudentRow:
        """Convert the GGUF file into the workspace (once per file) and register it as `student:NAME`."""
        from ..student.gguf import register_gguf
        return register_gguf(self.store, name, path, label)
