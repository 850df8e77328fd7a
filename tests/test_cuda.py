"""The engine on a CUDA device (marker `cuda`; skipped where none is visible; run by scripts/device_check.sh): the
decode loop's greedy and sampled explanations equal generate()'s on the card, probes branched from the decode cache
equal re-encoded ones, a bfloat16 training step learns, and a real out-of-memory halves the micro-batches."""

from __future__ import annotations

import pytest
import torch

from conftest import build_tiny_model
from elad_engine.config import ProjectConfig
from elad_engine.method.reasoning import build_prompt, short_answer
from elad_engine.states import ExplanationKind
from elad_engine.student.explain import explain_examples
from elad_engine.student.hardware import native_bf16
from elad_engine.student.model import Student, truncate_after_answer
from elad_engine.student.probes import naive_token_ids
from elad_engine.tasks.synthetic import generate

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device is visible")]


def _greedy(student: Student, ids: list[int], max_new_tokens: int) -> str:
    t = torch.tensor([ids], device=student.device)
    tok = student.tokenizer
    out = student.model.generate(t, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)
    return tok.decode(out[0, t.shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_decode_loop_and_its_probes_equal_generate_on_cuda(tiny_model_dir, dtype):
    student = Student.load(str(tiny_model_dir), device="cuda", dtype=dtype)
    assert student.device.type == "cuda" and next(student.model.parameters()).dtype == getattr(torch, dtype)
    cfg = ProjectConfig().with_overrides(**{"student.path": str(tiny_model_dir), "student.max_new_tokens": 24,
                                            "student.probe_max_tokens": 4, "uncertainty.samples": 2,
                                            "student.batch_size": 4})
    examples = generate(6, 3)
    got = explain_examples(student, examples, cfg, frozenset({"samples", "probes", "probs"}), seed=5)
    prompts = [build_prompt(e.question) for e in examples]
    u, s = cfg.uncertainty, cfg.student
    sampled = student.generate(prompts, max_new_tokens=s.max_new_tokens, num_samples=u.samples, sample=True,
                               temperature=u.temperature, top_p=u.top_p, seed=5, batch_size=s.batch_size)
    tok = student.tokenizer
    for e, prompt, samples in zip(examples, prompts, sampled):
        mine = [x for x in got if x.example_id == e.id]
        greedy = next(x for x in mine if x.kind == ExplanationKind.GREEDY)
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        assert greedy.text == truncate_after_answer(_greedy(student, prompt_ids, s.max_new_tokens))
        assert [x.text for x in mine if x.kind == ExplanationKind.SAMPLE] == samples  # the same draws
        for k in range(len(greedy.steps) + 1):  # each probe branched from the cache equals a re-encoded one
            ids = naive_token_ids(tok, prompt, greedy.steps, k)
            assert greedy.probe_answers[k] == short_answer(_greedy(student, ids, s.probe_max_tokens)), (e.id, k)


def test_a_bfloat16_training_step_on_cuda_learns(tiny_model_dir):
    from elad_engine.student.training import fit

    assert native_bf16(torch.device("cuda"))
    student = Student.load(str(tiny_model_dir), device="cuda", dtype="float32")
    prompts = [build_prompt(e.question) for e in generate(16, 7)]
    completions = [f" {e.rationale}" for e in generate(16, 7)]
    result = fit(student.model, student.tokenizer, prompts, completions, learning_rate=5e-3, epochs=3, batch_size=8,
                 max_length=256, precision="bf16")
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert result.losses[-1] < result.losses[0]


def test_a_real_out_of_memory_on_cuda_halves_the_micro_batches(tmp_path):
    """A GPT-2 with a 64k vocabulary: 32 rows of 256 tokens want about 2 GB of logits; with the process held to
    1 GiB the card runs out of memory for real, and training goes on in smaller micro-batches."""
    from elad_engine.student.training import fit

    folder = build_tiny_model(tmp_path / "m", dropout=0.0)
    student = Student.load(str(folder), device="cuda", dtype="float32")
    student.model.resize_token_embeddings(65_536)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction((1 << 30) / total)
    try:
        ooms = torch.cuda.memory_stats().get("num_ooms", 0)
        prompts = [build_prompt(e.question) for e in generate(32, 9)]
        completions = [" " + " ".join(["1 + 1 = 2."] * 40) for _ in prompts]
        result = fit(student.model, student.tokenizer, prompts, completions, learning_rate=1e-3, epochs=1,
                     batch_size=32, max_length=256, batching="padded")
        assert torch.cuda.memory_stats().get("num_ooms", 0) > ooms  # it did run out, for real
        assert result.steps == 1 and all(torch.isfinite(torch.tensor(result.losses)))
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
