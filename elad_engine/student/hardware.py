"""Where and in which dtype the student runs: the device (`student.device`), whether it computes bfloat16 natively,
the dtype `student.dtype = auto` picks from both and the model's size, and how the process's C allocator gives freed
tensor memory back."""

from __future__ import annotations

import ctypes
import os
import sys

import torch

from ..errors import StudentError


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise StudentError("student.device = 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'.")
    return torch.device(preference)


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes in bfloat16 natively: a CUDA card with bf16, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or
                    getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


# Below this size auto keeps float32 on a CPU: the shipped demo student (3.2M) and the test models, whose published
# results and exact-identity tests are float32 (python -m benchmarks.scoring --dtypes measures both dtypes).
CPU_BF16_MIN_PARAMETERS = 20_000_000


def pick_dtype(preference: str, device: torch.device, parameters: int | None = None) -> torch.dtype:
    """The weights' dtype. auto: bfloat16 on a CUDA card with bf16, and on a CPU that runs bf16 natively (AMX or
    AVX-512 BF16) for a model of at least CPU_BF16_MIN_PARAMETERS (`parameters`; unknown counts as large); float32
    elsewhere."""
    if preference != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[preference]
    if device.type == "cpu" and parameters is not None and parameters < CPU_BF16_MIN_PARAMETERS:
        return torch.float32
    return torch.bfloat16 if device.type in ("cuda", "cpu") and native_bf16(device) else torch.float32


def parameter_count(source, where: dict) -> int:
    """The model's parameter count from its config alone (built on the meta device: no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(source, **where)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


# Freed blocks of at least this many bytes go back to the system at once (glibc's mmap threshold, fixed).
MMAP_THRESHOLD = 4 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h


def return_freed_memory() -> bool:
    """Make glibc unmap freed blocks of MMAP_THRESHOLD bytes or more at once. By default its threshold is dynamic: it
    rises (up to 32 MB) to the size of the largest block freed, and smaller blocks then stay in its heaps, where a
    training step's churn of activation-sized tensors fragments them: a SmolLM2 LoRA training held 5.3 GB for a
    fraction of it in live tensors (README, "Training memory"). A CPU's tensors are malloc'd, so this
    is what bounds a CPU round's resident memory. Left alone where the user set MALLOC_MMAP_THRESHOLD_, and off glibc
    (its mallopt is what is called). True when set."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
