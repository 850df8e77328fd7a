"""The student on a tiny random model: batched generation equals one-by-one, probes, teacher forcing."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from elad_engine.errors import StudentError
from elad_engine.method.reasoning import build_prompt, probe_prefix
from elad_engine.student.hardware import CPU_BF16_MIN_PARAMETERS, native_bf16, parameter_count, pick_device, pick_dtype
from elad_engine.student.model import Student, truncate_after_answer
from elad_engine.tasks.synthetic import generate


@pytest.fixture(scope="module")
def student(tiny_model_dir) -> Student:
    return Student.load(str(tiny_model_dir))


def test_device_auto_detection():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(StudentError, match="no CUDA device"):
            pick_device("cuda")


def test_dtype_auto_is_bfloat16_only_where_the_cpu_runs_it_natively_and_the_model_is_large(tiny_model_dir):
    cpu = torch.device("cpu")
    native = native_bf16(cpu)  # AMX or AVX-512 BF16 on this machine's CPU
    assert pick_dtype("auto", cpu, 135_000_000) == (torch.bfloat16 if native else torch.float32)
    assert pick_dtype("auto", cpu, CPU_BF16_MIN_PARAMETERS - 1) == torch.float32  # the demo and test models
    assert pick_dtype("float32", cpu, 135_000_000) == torch.float32  # a setting is a setting
    assert pick_dtype("bfloat16", cpu, 1000) == torch.bfloat16
    assert pick_dtype("auto", torch.device("mps")) == torch.float32
    size = parameter_count(tiny_model_dir, {})  # from the config alone, on the meta device
    loaded = Student.load(str(tiny_model_dir))
    assert size == sum(p.numel() for p in loaded.model.parameters()) < CPU_BF16_MIN_PARAMETERS
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert next(Student.load(str(tiny_model_dir), dtype="bfloat16").model.parameters()).dtype == torch.bfloat16


CHURN = """
import ctypes, sys, torch
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
                "keepcost".split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
def mapped_for_an_8mb_tensor():
    big = torch.empty(16 << 20, dtype=torch.uint8)
    del big  # glibc's dynamic threshold rises to 16 MB: an 8 MB block then comes from (and stays in) its heap
    before = libc.mallinfo2().hblkhd
    block = torch.empty(8 << 20, dtype=torch.uint8)
    return libc.mallinfo2().hblkhd - before
print(mapped_for_an_8mb_tensor())
from elad_engine.student.model import Student
Student.load(sys.argv[1], device="cpu")
print(mapped_for_an_8mb_tensor())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_loading_a_student_on_a_cpu_makes_freed_tensor_memory_go_back_to_the_system(tiny_model_dir):
    """After a large block is freed, glibc serves (and keeps) blocks up to its size from its heaps; once a student is
    loaded on the CPU, every block of 4 MB or more is a mapping of its own, unmapped when freed. A variable the
    user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    out = subprocess.run([sys.executable, "-c", CHURN, str(tiny_model_dir)], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    assert int(out[0]) == 0 and int(out[1]) >= 8 << 20, out
    env["MALLOC_MMAP_THRESHOLD_"] = str(64 << 20)  # the user's own choice wins
    out = subprocess.run([sys.executable, "-c", CHURN, str(tiny_model_dir)], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    assert int(out[1]) == 0, out


def test_load_refuses_non_model_folder(tmp_path):
    with pytest.raises(StudentError, match="not a model folder: it has no config.json"):
        Student.load(str(tmp_path))


def test_batched_greedy_equals_one_by_one(student):
    prompts = [build_prompt(e.question) for e in generate(6, 3)]
    batched = student.generate(prompts, max_new_tokens=12, batch_size=4)
    single = [student.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert batched == single


def test_sampling_is_seeded_and_returns_m_samples(student):
    prompts = [build_prompt(e.question) for e in generate(3, 4)]
    a = student.generate(prompts, max_new_tokens=10, num_samples=3, sample=True, temperature=1.0, seed=5)
    b = student.generate(prompts, max_new_tokens=10, num_samples=3, sample=True, temperature=1.0, seed=5)
    assert a == b and [len(x) for x in a] == [3, 3, 3]


def test_probe_answers_match_direct_generation(student):
    e = generate(1, 5, {3: 1})[0]
    steps = ["1 + 2 = 3", "3 * 2 = 6"]
    prefixes = [probe_prefix(e.question, steps, k) for k in range(3)]
    probes = student.probe_answers(prefixes, max_new_tokens=4)
    direct = [student.generate([p], max_new_tokens=4)[0][0] for p in prefixes]
    from elad_engine.method.reasoning import short_answer
    assert probes == [short_answer(t) for t in direct]


def test_answer_probs_equal_manual_teacher_forcing(student):
    prefix = probe_prefix("Ann has 3 pens. How many pens does Ann have now?", ["3 + 0 = 3"], 1)
    tok, model = student.tokenizer, student.model
    p_ids = tok(prefix, add_special_tokens=False)["input_ids"]
    t_ids = tok(" 12.", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([p_ids + t_ids])).logits[0], -1)
    manual = math.exp(sum(float(logp[len(p_ids) - 1 + j, t]) for j, t in enumerate(t_ids)))
    got = student.answer_probs([prefix, prefix + " 1"], ["12", "2"])
    assert got[0] == pytest.approx(manual, rel=1e-5)
    assert 0.0 < got[1] < 1.0


def test_explanation_stats_are_finite(student):
    prompts = [build_prompt("Ann has 3 pens. How many pens does Ann have now?")] * 2
    stats = student.explanation_stats(prompts, ["1. 3 + 0 = 3\nThe answer is 3.", "The answer is 7."])
    for nll, ent in stats:
        assert nll > 0 and 0 < ent <= math.log(len(student.tokenizer)) + 1e-4


def test_truncate_after_answer():
    assert truncate_after_answer("1. a\nThe answer is 4.\n2. junk") == "1. a\nThe answer is 4."
    assert truncate_after_answer("no answer here\n") == "no answer here"


class _OutOfMemoryAbove:
    """Wraps a real model; generate() raises torch's real OutOfMemoryError above `limit` rows, as a GPU would."""

    def __init__(self, model, limit: int):
        self.model, self.limit, self.calls = model, limit, []

    def generate(self, **kw):
        rows = kw["input_ids"].shape[0] * kw.get("num_return_sequences", 1)
        self.calls.append(rows)
        if rows > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return self.model.generate(**kw)


def test_batch_size_adapts_to_memory(tiny_model_dir):
    student = Student.load(str(tiny_model_dir))
    student.own_decode = False  # generate()'s path, as for caches the decode loop cannot drive (its own: test_decode)
    prompts = [build_prompt(e.question) for e in generate(10, 8)]
    expected = student.generate(prompts, max_new_tokens=6, batch_size=16)
    real = student.model
    student.model = _OutOfMemoryAbove(real, limit=3)
    got = student.generate(prompts, max_new_tokens=6, batch_size=16)
    assert got == expected  # greedy results do not depend on the batch size
    assert max(r for r in student.model.calls if r <= 3) <= 3 and student.max_rows <= 3
    calls_before = len(student.model.calls)
    student.generate(prompts, max_new_tokens=6, batch_size=16)  # the learnt size is kept: no new failures
    assert all(r <= 3 for r in student.model.calls[calls_before:])
    student.model = _OutOfMemoryAbove(real, limit=0)
    with pytest.raises(StudentError, match="One sequence does not fit"):
        student.generate(prompts[:1], max_new_tokens=6)
