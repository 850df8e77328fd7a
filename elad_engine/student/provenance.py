"""Where a student came from, as the ecosystem names it: the Hugging Face id of its base model, the commit it was
loaded at and its licence, never a path of this machine. Exports write it into adapter_config.json and the model
card (`base_model`, `license`); an origin nobody recorded is left out, not guessed from a folder name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .hub import REPO_ID, license_id, parse_hub_id


@dataclass(frozen=True)
class BaseModel:
    """The base model of a student as another machine can find it. Every field None: nobody recorded it (a local
    folder); the merged export is then the self-contained form."""

    repo_id: str | None = None  # e.g. HuggingFaceTB/SmolLM2-135M-Instruct
    revision: str | None = None  # the commit it was loaded at, for a student named by its hub id
    license: str | None = None  # the base model's licence id, e.g. apache-2.0
    from_gguf: bool = False  # trained on a GGUF file's dequantised weights, not on the hub's own

    @property
    def known(self) -> bool:
        return self.repo_id is not None


def card_license(folder: str | Path) -> str | None:
    """The `license:` of a model card's YAML front matter (README.md in a hub snapshot), when the folder has one."""
    try:
        text = (Path(folder) / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("---"):
        return None
    for line in text.split("\n---", 1)[0].splitlines()[1:]:
        key, _, value = line.partition(":")
        if key.strip() == "license":
            return license_id(value.strip().strip("\"'"))
    return None


def base_model_of(store, student_path: str, recorded: str | None = None) -> BaseModel:
    """Where the student a round trained on came from. `recorded` is the checkpoint's own record (a hub id at its
    commit), `student_path` the project's student.path: a hub id, a registered or GGUF student (its registration
    says), or a folder (its config's `_name_or_path` when that is a hub id, else nothing)."""
    from .gguf import REGISTERED_PREFIX, sha256_of

    ref = parse_hub_id(recorded or "") or parse_hub_id(student_path)
    if ref is not None:
        from .hub import cached
        found = cached(ref)
        return BaseModel(ref.repo_id, ref.revision if ref.pinned else (found[0] if found else None),
                         card_license(found[1]) if found else None)
    row = None
    if student_path.startswith(REGISTERED_PREFIX):
        row = store.students.get(student_path[len(REGISTERED_PREFIX):])
    elif student_path.lower().endswith(".gguf"):
        from ..resources import resolve
        file = resolve(student_path)
        row = store.students.by_sha256(sha256_of(file)) if file.is_file() else None
    if row is not None:
        return BaseModel(row.get("base_model_id"), None, row.get("license"), from_gguf=True)
    return _folder_base(student_path)


def _folder_base(student_path: str) -> BaseModel:
    from ..resources import resolve

    folder = resolve(student_path)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return BaseModel()
    name = config.get("_name_or_path") or ""
    if isinstance(name, str) and REPO_ID.match(name) and not (folder / name).exists():
        return BaseModel(name, None, card_license(folder))
    return BaseModel(license=card_license(folder))
