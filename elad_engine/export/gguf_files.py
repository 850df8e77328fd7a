"""GGUF files of an exported student through llama.cpp's own tools: its `convert_hf_to_gguf.py` turns the merged
folder into model-bf16.gguf (or -f16), and llama-cpp-python's `llama_model_quantize` writes model-Q4_K_M.gguf
(Q8_0 where the model's tensor sizes refuse K-quants). `make gguf-tools` installs both once per machine (the
converter from the llama-cpp-python source distribution into the venv's share/elad-gguf-tools, $ELAD_GGUF_TOOLS to
put it elsewhere); without them an export says so and writes everything else. Both run as child processes: their
logs and a crash stay out of the worker."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import EladError

TOOLS_ENV = "ELAD_GGUF_TOOLS"
CONVERTER = "convert_hf_to_gguf.py"
UNAVAILABLE = "not available: `make gguf-tools` installs llama.cpp's converter and quantiser"
QUANTS = {"Q4_K_M": 15, "Q8_0": 7}  # llama.cpp's LLAMA_FTYPE_MOSTLY_* values
_QUANTIZE = """
import ctypes, sys
import llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype, params.nthread = int(sys.argv[3]), int(sys.argv[4])
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params)))
"""


class GgufError(EladError):
    """llama.cpp's converter or quantiser failed; the message has the end of its log."""


@dataclass(frozen=True)
class GgufFiles:
    unquantised: Path  # model-bf16.gguf or model-f16.gguf
    quantised: Path  # model-Q4_K_M.gguf, or model-Q8_0.gguf
    note: str = ""  # why the quantised file is not Q4_K_M, or how much of it fell back to other types


def tools_folder() -> Path:
    return Path(os.environ.get(TOOLS_ENV) or Path(sys.prefix) / "share" / "elad-gguf-tools")


def unavailable() -> str | None:
    """Why GGUF files cannot be written here (None: they can)."""
    missing = []
    if not (tools_folder() / CONVERTER).is_file() or not (tools_folder() / "gguf-py").is_dir():
        missing.append(f"no {CONVERTER} in {tools_folder()}")
    if importlib.util.find_spec("llama_cpp") is None:
        missing.append("llama-cpp-python is not installed")
    if importlib.util.find_spec("sentencepiece") is None:
        missing.append("sentencepiece is not installed")
    return f"{UNAVAILABLE} ({'; '.join(missing)})" if missing else None


def _run(cmd: list[str], what: str, timeout: float) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tools_folder())
    except subprocess.TimeoutExpired:
        raise GgufError(f"{what} ran past {timeout:.0f} s and was stopped") from None
    log = (done.stderr or "") + (done.stdout or "")
    if done.returncode != 0:
        tail = " / ".join(line.strip() for line in log.strip().splitlines()[-4:])
        raise GgufError(f"{what} failed (exit {done.returncode}): {tail[-600:]}")
    return log


def without_paths(message: str, export_folder: Path) -> str:
    """A tool's error as a card may show it: the tools' and the export's folders named, not spelled out."""
    for folder, name in ((tools_folder(), "<gguf tools>"), (export_folder, "<export>"), (Path(sys.prefix), "<venv>")):
        message = message.replace(str(Path(folder).resolve()), name).replace(str(folder), name)
    return f"not written: {message}"


def convert(merged: Path, out_dir: Path, dtype: str, name: str) -> Path:
    """llama.cpp's converter on the merged folder: model-bf16.gguf for a bfloat16 model, else model-f16.gguf."""
    outtype = "bf16" if dtype == "bfloat16" else "f16"
    out = out_dir / f"model-{outtype}.gguf"
    _run([sys.executable, str(tools_folder() / CONVERTER), str(merged), "--outfile", str(out), "--outtype", outtype,
          "--model-name", name], "llama.cpp's converter", timeout=3600)
    return out


def _quantize_as(kind: str, source: Path, out_dir: Path, threads: int) -> tuple[Path, tuple[int, int] | None]:
    """One quantised file; (file, (tensors kept in a fallback type, tensors)) as llama.cpp counts them."""
    out = out_dir / f"model-{kind}.gguf"
    try:
        log = _run([sys.executable, "-c", _QUANTIZE, str(source), str(out), str(QUANTS[kind]), str(threads)],
                   f"llama.cpp's quantiser ({kind})", timeout=3600)
    except GgufError:
        out.unlink(missing_ok=True)
        raise
    fell_back = re.search(r"(\d+) of (\d+) tensor\(s\) required fallback", log)
    return out, (int(fell_back.group(1)), int(fell_back.group(2))) if fell_back else None


def quantize(source: Path, out_dir: Path, threads: int | None = None) -> tuple[Path, str]:
    """model-Q4_K_M.gguf from `source`; model-Q8_0.gguf instead where the quantiser refuses K-quants, or where it
    would keep most tensors in fallback types (their rows not a multiple of the 256 values a K-quant block holds:
    SmolLM2's 576-wide rows). Returns (file, what the card says about it)."""
    threads = threads or os.cpu_count() or 1
    try:
        out, fell_back = _quantize_as("Q4_K_M", source, out_dir, threads)
    except GgufError:  # (its log names this machine's paths: not for the card)
        return _quantize_as("Q8_0", source, out_dir, threads)[0], "Q8_0: llama.cpp's quantiser refused Q4_K_M"
    if fell_back is None:
        return out, ""
    n, total = fell_back
    why = f"{n} of {total} tensors' rows are not a multiple of the 256 values a K-quant block holds"
    if 2 * n <= total:
        return out, f"Q4_K_M, {why}: those kept other types"
    out.unlink()
    return _quantize_as("Q8_0", source, out_dir, threads)[0], f"Q8_0, not Q4_K_M: {why}"


def write_gguf(merged: Path, out_dir: Path, dtype: str, name: str) -> GgufFiles:
    """Both GGUF files of an export, into `out_dir`."""
    unquantised = convert(merged, out_dir, dtype, name)
    quantised, note = quantize(unquantised, out_dir)
    return GgufFiles(unquantised, quantised, note)
