"""What a student choice is, without loading it (the guided setup and the fit check read it before anything runs):
its architecture, parameter count (from the safetensors headers, or as registered), size on disk, whether its
tokenizer has a chat template, whether it is the shipped demo student, and the device a round would run it on. A hub
id is read from the Hugging Face cache (no network call); one not downloaded yet says so."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TypedDict

from ..errors import StudentError
from ..resources import TINY_STUDENT, resolve
from ..store import Store
from .gguf import REGISTERED_PREFIX, sha256_of
from .hub import cache_dir, cached, offline, parse_hub_id


class StudentInfo(TypedDict):
    kind: str  # shipped demo | registered | hub id | folder | gguf file
    architecture: str
    parameters: int | None
    bytes: int
    device: str
    note: str
    folder: str | None  # the model folder read (None: not on this machine yet, or a GGUF file not converted)
    commit: str | None  # a hub id's commit in the cache
    downloaded: bool  # False: a hub id that a download job has to fetch first
    chat: bool | None  # the tokenizer has a chat template (None: unknown until the files are here)
    demo: bool  # the shipped tiny student, built for the embedded arithmetic task only


def safetensors_parameters(folder: Path) -> int:
    """The number of weights in a model folder's *.safetensors files, read from their JSON headers only."""
    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        with open(file, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, tensor in header.items():
            if name != "__metadata__":
                n = 1
                for dim in tensor["shape"]:
                    n *= dim
                total += n
    return total


def device_summary() -> str:
    import torch

    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        return f"cuda: {torch.cuda.get_device_name(0)}" + (f" (and {n - 1} more)" if n > 1 else "")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps (Apple GPU)"
    return "cpu (no GPU visible: rounds run on the CPU)"


def has_chat_template(folder: Path) -> bool:
    """Whether a model folder's tokenizer carries a chat template (tokenizer_config.json or chat_template.jinja)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        return bool(json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError):
        return False


def is_demo_student(folder: Path) -> bool:
    """The shipped tiny student, or a copy of it (its build record names the embedded task's skills)."""
    if folder.resolve() == resolve(TINY_STUDENT).resolve():
        return True
    try:
        return "skills" in json.loads((folder / "build_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _info(kind: str, folder: Path | None, **fields) -> StudentInfo:
    info: StudentInfo = {"kind": kind, "architecture": "?", "parameters": None, "bytes": 0,
                         "device": device_summary(), "note": "", "folder": str(folder) if folder else None,
                         "commit": None, "downloaded": True, "chat": None, "demo": False}
    if folder is not None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        info.update(architecture=(config.get("architectures") or ["?"])[0],
                    bytes=sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
                    parameters=safetensors_parameters(folder) or None, chat=has_chat_template(folder),
                    demo=is_demo_student(folder))
        if info["parameters"] is None:
            info["note"] = "no safetensors weights: the parameter count is known once loaded"
    info.update(fields)
    return info


def describe_student(store: Store, path: str) -> StudentInfo:
    """What `student.path` names, read without loading it (StudentError when it names nothing usable)."""
    ref = parse_hub_id(path)
    if ref is not None:
        found = cached(ref)
        if found is None:
            note = (f"not in the Hugging Face cache ({cache_dir()}), and HF_HUB_OFFLINE=1 forbids downloading it"
                    if offline() else f"not downloaded yet: a worker job downloads it into the Hugging Face cache "
                    f"({cache_dir()}) before the first round, or press Download")
            return _info("hub id", None, architecture="(known once downloaded)", downloaded=False, note=note)
        return _info("hub id", found[1], commit=found[0],
                     note=f"commit {found[0][:12]} in the Hugging Face cache; pinned for every round")
    if path.startswith(REGISTERED_PREFIX):
        row = store.students.get(path[len(REGISTERED_PREFIX):])
        folder, kind = Path(row["path"]), "registered"
    elif path.lower().endswith(".gguf"):
        file = resolve(path)
        if not file.is_file():
            raise StudentError(f"student.path = {path!r}: no such GGUF file.")
        known = store.students.by_sha256(sha256_of(file))
        if known is not None and Path(known["path"], "config.json").is_file():
            return _info("gguf file", Path(known["path"]), note=f"converted before, as student:{known['name']}")
        return _info("gguf file", None, architecture="(read when converted)", bytes=file.stat().st_size,
                     note="converted into the workspace once, when the first round starts")
    else:
        folder = resolve(path)
        kind = "shipped demo" if path == TINY_STUDENT else "folder"
    if not (folder / "config.json").is_file():
        raise StudentError(f"student.path = {path!r}: {folder} has no config.json; give a Hugging Face model folder, "
                           "a Hugging Face id (org/name), a .gguf file or a registered student.")
    return _info(kind, folder)


def unknown_token_share(folder: str | Path, texts: list[str]) -> float | None:
    """The share of the tokens of `texts` that the student's tokenizer can only read as its unknown token (a
    word-level tokenizer built for another task), loading the tokenizer alone; None when it has no unknown token."""
    from transformers import AutoTokenizer

    from .model import quiet_transformers

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    unk = tokenizer.unk_token_id
    if unk is None or not texts:
        return None
    ids = [i for row in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in row]
    return sum(i == unk for i in ids) / max(1, len(ids))
