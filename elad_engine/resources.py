"""Files that ship with ELAD Studio, found through importlib.resources wherever the package is installed: the
`data/` folder (the tiny demo student, example accelerate configs), installed as the package `elad_data`.
A config names a shipped file as `bundled:NAME` (e.g. `student.path = "bundled:tiny-student"`), so a stored
project never holds the path of one checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED_PREFIX = "bundled:"
TINY_STUDENT = BUNDLED_PREFIX + "tiny-student"


def bundled(name: str) -> Path:
    """The shipped file or folder `name` (relative to data/), whether or not it exists."""
    return Path(str(resources.files("elad_data"))) / name


def tiny_student_path() -> Path:
    return bundled("tiny-student")


def resolve(path: str) -> Path:
    """A path from a config: `bundled:NAME` is a shipped file; anything else is a path as given (~ expanded)."""
    if path.startswith(BUNDLED_PREFIX):
        return bundled(path[len(BUNDLED_PREFIX):])
    return Path(path).expanduser()
