"""What a student choice is, without loading it (the guided setup shows it before anything runs): its
architecture, parameter count (from the safetensors headers, or as registered), size on disk, and the device a
round would run it on."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ..errors import StudentError
from ..resources import resolve
from ..store import Store
from .gguf import REGISTERED_PREFIX


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


def describe_student(store: Store, path: str) -> dict:
    """{"kind", "architecture", "parameters", "bytes", "device", "note"} of `student.path` (StudentError when it
    names nothing usable)."""
    note = ""
    if path.startswith(REGISTERED_PREFIX):
        row = store.students.get(path[len(REGISTERED_PREFIX):])
        if row is None:
            raise StudentError(f"no registered student {path!r}; `elad student add` registers one.")
        folder, kind = Path(row["path"]), "registered"
    elif path.lower().endswith(".gguf"):
        file = resolve(path)
        if not file.is_file():
            raise StudentError(f"student.path = {path!r}: no such GGUF file.")
        return {"kind": "gguf file", "architecture": "(read when converted)", "parameters": None,
                "bytes": file.stat().st_size, "device": device_summary(),
                "note": "converted into the workspace once, when the first round starts"}
    else:
        folder, kind = resolve(path), "folder"
    config = folder / "config.json"
    if not config.is_file():
        raise StudentError(f"student.path = {path!r}: {folder} has no config.json; give a Hugging Face model folder, "
                           "a .gguf file or a registered student.")
    arch = (json.loads(config.read_text()).get("architectures") or ["?"])[0]
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    params = safetensors_parameters(folder) or None
    if params is None:
        note = "no safetensors weights: the parameter count is known once loaded"
    return {"kind": kind, "architecture": arch, "parameters": params, "bytes": size, "device": device_summary(),
            "note": note}
