"""GGUF students: a `.gguf` model file (the format most small models are shared in) is converted once into a model
folder under the workspace, `artifacts/students/NAME/` (transformers dequantises it through the `gguf` package), and
registered with the file's sha256, so adding or naming the same file again reuses the folder. Run:
`elad student add NAME --gguf FILE`; a config may also name the file itself (`student.path = "/models/x.gguf"`) or a
registered student (`student.path = "student:NAME"`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from pathlib import Path

from ..errors import StudentError
from ..resources import resolve
from ..store import Store, check_project_name
from ..store.students import StudentRow
from .hub import check_repo_id, license_id

REGISTERED_PREFIX = "student:"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_gguf(path: Path, out: Path, dtype: str = "bfloat16") -> int:
    """Dequantise the GGUF file `path` into the model folder `out` (weights in `dtype`, tokenizer with its chat
    template); returns the parameter count. Written to `out`.partial first, so a crash leaves no half folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .model import quiet_transformers

    quiet_transformers()  # no library progress bars in the engine's own output
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:  # the dequantisation draws its own progress bar on stderr: not in the engine's output
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                         dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise StudentError(f"{path} could not be read as a GGUF causal LM: {str(e)[:300]}") from None
    # transformers marks a model read from GGUF as quantized and refuses to save it; its weights are plain tensors
    # now (dequantised), so a fresh model of the same config takes them and saves as any other
    config = model.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    plain = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return sum(p.numel() for p in plain.parameters())


def gguf_license(path: str | Path) -> str | None:
    """The `general.license` a GGUF file declares (llama.cpp's converter writes the model card's licence there)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields.get("general.license")
        return license_id(field.contents()) if field is not None else None
    except (ImportError, OSError, ValueError, KeyError, IndexError):
        return None


def register_gguf(store: Store, name: str, path: str | Path, label: str | None = None,
                  base_model_id: str | None = None) -> StudentRow:
    """Convert the GGUF file once and register it as student `name` (the same file again: the folder is reused).
    `base_model_id` is the hub id of the model the file packages (what exports name as their base); the licence
    is the file's own `general.license`."""
    check_project_name(name)  # it becomes a folder name
    base_model_id = check_repo_id(base_model_id)
    path = resolve(str(path))
    if path.suffix.lower() != ".gguf" or not path.is_file():
        raise StudentError(f"{path} is not a .gguf file; give the path of a GGUF model file.")
    sha = sha256_of(path)
    same = store.students.by_sha256(sha)
    label = label or f"{path.stem} ({name})"
    origin = {"base_model_id": base_model_id or (same or {}).get("base_model_id"), "license": gguf_license(path)}
    if same is not None and Path(same["path"], "config.json").is_file():
        store.students.add(name, label, Path(same["path"]), str(path), sha, same["parameters"], **origin)
        return store.students.get(name)
    out = store.artifacts / "students" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    parameters = convert_gguf(path, out)
    store.students.add(name, label, out, str(path), sha, parameters, **origin)
    return store.students.get(name)


def model_folder(store: Store, path: str) -> str:
    """The model folder `student.path` means: a registered student (`student:NAME`), a `.gguf` file (converted and
    registered the first time, under its file name), or a folder as given (`bundled:NAME` for a shipped one)."""
    if path.startswith(REGISTERED_PREFIX):
        return store.students.get(path[len(REGISTERED_PREFIX):])["path"]
    if path.lower().endswith(".gguf"):
        file = resolve(path)
        if not file.is_file():
            raise StudentError(f"student.path = {path!r}: no such GGUF file.")
        known = store.students.by_sha256(sha256_of(file))
        if known is not None and Path(known["path"], "config.json").is_file():
            return known["path"]
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", file.stem)[:64].strip(".-") or "gguf-student"
        return register_gguf(store, name, file)["path"]
    return str(resolve(path))
