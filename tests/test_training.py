"""Fine-tuning: LoRA and full on a tiny model lower the loss; the loss covers the explanation only."""

from __future__ import annotations

import json

import torch

from elad_engine.config import TrainingConfig
from elad_engine.method.reasoning import build_prompt
from elad_engine.student.batching import encode_pairs
from elad_engine.student.model import Student
from elad_engine.student.tiny import build_tokenizer, tokenizer_corpus
from elad_engine.student.training import train_student
from elad_engine.tasks.synthetic import generate


def test_prompt_tokens_are_masked():
    tok = build_tokenizer(tokenizer_corpus())
    (ids, labels), = encode_pairs(tok, ["Question: x\nAnswer:\n"], ["The answer is 3."], 64)
    n_prompt = len(tok("Question: x\nAnswer:\n", add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [-100] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:] and ids[-1] == tok.eos_token_id


def _data(n=16):
    ex = generate(n, 11, {1: 1})
    return [build_prompt(e.question) for e in ex], [e.rationale for e in ex]


def test_lora_lowers_loss_and_saves_an_adapter(tiny_model_dir, tmp_path):
    prompts, completions = _data()
    cfg = TrainingConfig(epochs=6, batch_size=8, learning_rate=5e-3)
    student = Student.load(str(tiny_model_dir))
    result = train_student(student, prompts, completions, cfg, tmp_path / "adapter", seed=0)
    assert result.steps == 12 and result.tokens > 0
    assert sum(result.losses[-2:]) / 2 < sum(result.losses[:2]) / 2
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == cfg.lora_r
    # for inference it is folded into the weights, which stay as from_pretrained leaves them (requires_grad: frozen
    # bfloat16 weights take a CPU path that held 3x the memory on SmolLM2, benchmarks/README.md)
    merged = Student.load(str(tiny_model_dir), adapter=str(tmp_path / "adapter"))
    assert all(p.requires_grad for p in merged.model.parameters())
    assert not hasattr(merged.model, "peft_config")
    # continue from it: the adapter loads as trainable and keeps training
    again = train_student(Student.load(str(tiny_model_dir)), prompts, completions, cfg, tmp_path / "adapter2",
                          init_adapter=str(tmp_path / "adapter"), seed=1)
    assert again.losses[0] < result.losses[0]


def test_full_fine_tune_saves_a_model(tiny_model_dir, tmp_path):
    prompts, completions = _data(8)
    cfg = TrainingConfig(method="full", epochs=3, batch_size=4, learning_rate=1e-3)
    result = train_student(Student.load(str(tiny_model_dir)), prompts, completions, cfg, tmp_path / "m")
    assert result.losses[-1] < result.losses[0]
    assert Student.load(str(tmp_path / "m")).model.num_parameters() > 0


def test_packed_rows_give_the_padded_loss_and_gradients(tiny_model_dir):
    """Packing must not let samples see each other: same loss and gradients as one padded batch."""
    import pytest
    import torch

    from elad_engine.student.batching import collate, collate_packed

    ex = generate(12, 5)  # 1 to 4 steps: very different lengths, so rows hold several samples
    student = Student.load(str(tiny_model_dir))
    tok, model = student.tokenizer, student.model
    enc = encode_pairs(tok, [build_prompt(e.question) for e in ex], [e.rationale for e in ex], 256)
    idx = list(range(len(enc)))
    packed = collate_packed(enc, idx, tok.pad_token_id, "cpu")
    assert packed["input_ids"].shape[0] < len(idx)  # several samples did share a row
    model.eval()  # no dropout: the two must agree exactly up to float error
    grads = []
    for batch in (collate(enc, idx, tok.pad_token_id, "cpu"), packed):
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        grads.append((float(loss.detach()), model.transformer.wte.weight.grad.clone()))
    assert grads[0][0] == pytest.approx(grads[1][0], abs=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-6)


def test_every_batching_trains_and_unknown_is_refused(tiny_model_dir):
    import pytest

    from elad_engine.errors import StudentError
    from elad_engine.student.training import fit

    prompts, completions = _data()
    for batching in ("padded", "grouped", "packed"):
        model = Student.load(str(tiny_model_dir)).model
        r = fit(model, Student.load(str(tiny_model_dir)).tokenizer, prompts, completions, learning_rate=5e-3,
                epochs=4, batch_size=8, max_length=256, batching=batching)
        assert r.steps == 8 and sum(r.losses[-2:]) < sum(r.losses[:2]), batching
    with pytest.raises(StudentError, match="batching must be one of"):
        fit(model, None, prompts, completions, learning_rate=1e-3, epochs=1, batch_size=8, max_length=64,
            batching="zigzag")


def test_the_loss_needs_no_logits_for_the_prompt_and_equals_the_full_one(tiny_model_dir):
    """token_loss_sum keeps logits only from the first labelled position: the same loss and gradients as the
    model's own loss over full-length logits, with fewer logit rows."""
    import pytest
    import torch

    from elad_engine.student.batching import collate
    from elad_engine.student.training import token_loss_sum

    ex = generate(10, 6)
    student = Student.load(str(tiny_model_dir))
    tok, model = student.tokenizer, student.model
    model.eval()
    enc = encode_pairs(tok, [build_prompt(e.question) for e in ex], [e.rationale for e in ex], 256)
    batch = collate(enc, list(range(len(enc))), tok.pad_token_id, "cpu")
    labels = int((batch["labels"][:, 1:] != -100).sum())
    model.zero_grad()
    full = model(**batch).loss * labels
    full.backward()
    want = model.transformer.wte.weight.grad.clone()
    model.zero_grad()
    kept = []
    model.register_forward_hook(lambda m, a, out: kept.append(out.logits.shape[1]))
    got = token_loss_sum(model, batch, use_bf16=False)
    got.backward()
    assert float(got.detach()) == pytest.approx(float(full.detach()), rel=1e-5)
    assert torch.allclose(model.transformer.wte.weight.grad, want, atol=1e-5)
    assert kept[-1] < batch["input_ids"].shape[1] - 20  # the prompt's positions got no logits


def test_micro_batches_accumulate_to_the_one_pass_gradient(tiny_model_dir):
    """A batch split by a small token budget gives the gradient of the whole batch in one pass."""
    import torch

    from elad_engine.student.batching import collate, micro_batches
    from elad_engine.student.training import _batch_backward

    ex = generate(12, 9)
    student = Student.load(str(tiny_model_dir))
    tok, model = student.tokenizer, student.model
    model.eval()
    enc = encode_pairs(tok, [build_prompt(e.question) for e in ex], [e.rationale for e in ex], 256)
    idx, loss_tokens = list(range(len(enc))), [sum(t != -100 for t in y[1:]) for _, y in enc]
    grads, losses = [], []
    for budget in (0, 150):
        model.zero_grad()
        losses.append(_batch_backward(model, tok, enc, idx, loss_tokens, collate, budget, False, torch.device("cpu"),
                                      1, 0, None))
        grads.append(model.transformer.wte.weight.grad.clone())
    plan = micro_batches([idx], [len(x) for x, _ in enc], 150)
    assert len(plan) >= 4 and sorted(i for m in plan for i in m[0]) == idx
    assert abs(losses[0] - losses[1]) < 1e-5 and torch.allclose(grads[0], grads[1], atol=1e-6)
    ranks = micro_batches([idx[0::2], idx[1::2]], [len(x) for x, _ in enc], 150)
    assert all(len(m) == 2 for m in ranks)  # every rank runs as many micro-batches


class _OutOfMemoryAbove(torch.nn.Module):
    """Wraps a real model; forward raises torch's real OutOfMemoryError above `limit` rows, as a GPU would."""

    def __init__(self, model, limit: int):
        super().__init__()
        self.model, self.limit, self.rows = model, limit, []
        self.config = model.config

    def forward(self, **kw):
        self.rows.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return self.model(**kw)


def test_training_halves_its_micro_batches_on_out_of_memory(tmp_path):
    import pytest

    from conftest import build_tiny_model
    from elad_engine.errors import StudentError
    from elad_engine.student.training import fit

    tiny_model_dir = build_tiny_model(tmp_path / "m", dropout=0.0)  # no dropout: smaller passes, same numbers
    prompts, completions = _data()
    tok = Student.load(str(tiny_model_dir)).tokenizer
    whole = fit(Student.load(str(tiny_model_dir)).model, tok, prompts, completions, learning_rate=5e-3, epochs=1,
                batch_size=8, max_length=256, batching="padded")
    squeezed = _OutOfMemoryAbove(Student.load(str(tiny_model_dir)).model, limit=2)
    backed_off = fit(squeezed, tok, prompts, completions, learning_rate=5e-3, epochs=1, batch_size=8,
                     max_length=256, batching="padded")
    assert max(r for r in squeezed.rows if r <= 2) == 2 and any(r > 2 for r in squeezed.rows)
    assert backed_off.losses == pytest.approx(whole.losses, rel=1e-4)  # the same recipe, in smaller passes
    with pytest.raises(StudentError, match="One training sample does not fit"):
        fit(_OutOfMemoryAbove(Student.load(str(tiny_model_dir)).model, limit=0), tok, prompts, completions,
            learning_rate=5e-3, epochs=1, batch_size=8, max_length=256)


def test_gradient_checkpointing_trains_the_same_and_lora_targets_follow_the_architecture(tiny_model_dir, tmp_path):
    import pytest

    from elad_engine.student.training import LORA_TARGETS, fit, lora_targets

    prompts, completions = _data()
    tok = Student.load(str(tiny_model_dir)).tokenizer
    runs = []
    for checkpointing in (False, True):
        model = Student.load(str(tiny_model_dir)).model
        runs.append(fit(model, tok, prompts, completions, learning_rate=5e-3, epochs=1, batch_size=8,
                        max_length=256, seed=3, gradient_checkpointing=checkpointing, micro_batch_tokens=600).losses)
        assert not model.is_activation_checkpointing  # switched off again after training
    assert runs[0] == pytest.approx(runs[1], rel=1e-4)
    model = Student.load(str(tiny_model_dir)).model
    assert lora_targets(model, "auto") == LORA_TARGETS["gpt2"] == ["c_attn", "c_proj", "c_fc"]
    assert lora_targets(model, "all-linear") == "all-linear" and lora_targets(model, "c_attn, c_fc") == ["c_attn",
                                                                                                       "c_fc"]


def test_samples_whose_explanation_starts_past_max_length_are_counted_or_refused(tiny_model_dir):
    """Silent zero-loss training is impossible: explanations cut off entirely are counted as left out, and when
    that is every sample, training refuses with the length to raise."""
    import pytest

    from elad_engine.errors import StudentError
    from elad_engine.student.training import fit

    prompts, completions = _data(8)
    tok = Student.load(str(tiny_model_dir)).tokenizer
    long_prompts = [p * 12 for p in prompts[:3]] + prompts[3:]  # three prompts far past max_length
    r = fit(Student.load(str(tiny_model_dir)).model, tok, long_prompts, completions, learning_rate=5e-3, epochs=1,
            batch_size=8, max_length=128)
    assert r.left_out == 3 and r.losses[0] > 0
    with pytest.raises(StudentError, match="starts past training.max_length = 128 tokens"):
        fit(Student.load(str(tiny_model_dir)).model, tok, [p * 12 for p in prompts], completions, learning_rate=5e-3,
            epochs=1, batch_size=8, max_length=128)


def _exemplar_pairs(student, n: int, seed: int):
    from elad_engine.student.prompt_style import PromptStyle, pick_exemplars

    style = PromptStyle("chat" if student.tokenizer.chat_template else "completion",
                        exemplars=pick_exemplars(generate(20, 3), 2, seed=1))
    ex = generate(n, seed)
    return style.prompts(student.tokenizer, [e.question for e in ex]), [e.rationale for e in ex]


def test_a_shared_exemplar_prefix_runs_once_per_micro_batch_with_the_whole_rows_loss_and_gradients(
        tiny_model_dir, tiny_chat_model_dir):
    """Every training prompt carries the same exemplars: a micro-batch runs them once on one row and its rows after
    them. The loss and every weight's gradient are those of the whole rows, on a GPT-2 (learned positions) and a
    Llama (rotary positions), with and without activation checkpointing (whose replay must not write the prefix's
    cache twice, and which transformers would otherwise make drop the cache), and no row runs the prefix."""
    from elad_engine.student.batching import SHARED_PREFIX_MIN, collate, collate_after_prefix
    from elad_engine.student.training import _batch_backward, _checkpointing, _drops_out, _prefix_survives_checkpointing

    for folder, survives in ((tiny_model_dir, False), (tiny_chat_model_dir, True)):
        student = Student.load(str(folder))
        tok, model = student.tokenizer, student.model
        model.train()  # checkpointing runs in training mode only; no dropout, so every pass is deterministic
        assert _drops_out(model) is not survives  # the tiny GPT-2 has dropout: training shares no prefix there
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        prompts, completions = _exemplar_pairs(student, 8, 4)
        cfg = model.config
        enc = encode_pairs(tok, prompts, completions, getattr(cfg, "n_positions", None) or cfg.max_position_embeddings)
        idx, loss_tokens = list(range(len(enc))), [sum(t != -100 for t in y[1:]) for _, y in enc]
        shaped = collate_after_prefix(enc, idx, tok.pad_token_id, "cpu")
        shared = shaped["prefix_ids"].shape[1]
        assert shared >= SHARED_PREFIX_MIN and shaped["input_ids"].shape[1] == max(len(x) for x, _ in enc) - shared
        _checkpointing(model, True)  # GPT-2's own forward drops every cache under checkpointing: no sharing there
        assert _prefix_survives_checkpointing(model) is survives
        _checkpointing(model, False)
        results = []
        for make, checkpointed in ((collate, False), (collate_after_prefix, False), (collate_after_prefix, True)):
            if checkpointed and not survives:
                continue
            _checkpointing(model, checkpointed)
            calls: list[tuple[int, int]] = []
            hook = model.register_forward_pre_hook(
                lambda m, a, kw: calls.append(tuple(kw["input_ids"].shape)), with_kwargs=True)
            model.zero_grad()
            try:
                loss = _batch_backward(model, tok, enc, idx, loss_tokens, make, 0, False, torch.device("cpu"), 1, 0,
                                       None)
            finally:
                hook.remove()
                _checkpointing(model, False)
            results.append((loss, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
                            calls))
        whole, g_whole, _ = results[0]
        for after, g_after, calls in results[1:]:
            assert calls == [(1, shared), (8, shaped["input_ids"].shape[1])]  # the prefix once, then only the rows
            assert abs(whole - after) < 1e-5, (folder.name, whole, after)
            assert g_whole.keys() == g_after.keys() and len(g_whole) > 5
            for name in g_whole:
                assert torch.allclose(g_whole[name], g_after[name], atol=1e-5, rtol=1e-4), (folder.name, name)


def test_lora_trained_with_the_prefix_run_once_equals_lora_trained_on_whole_rows(tiny_chat_model_dir):
    """The whole recipe (AdamW, micro-batches, 2 epochs) with and without the shared prefix, and with it under
    gradient checkpointing: the same losses and the same adapter updates, to within 1% (the gradients differ in float
    summation order only, and AdamW turns that noise in a near-zero gradient into a whole step of its sign;
    measured: 0.4% at most)."""
    from elad_engine.student.training import _with_adapter, fit

    adapters, curves = [], []
    for share, checkpointing in ((False, False), (True, False), (True, True)):
        student = Student.load(str(tiny_chat_model_dir))
        prompts, completions = _exemplar_pairs(student, 12, 6)
        torch.manual_seed(0)  # lora_A's initial weights
        model = _with_adapter(student.model, TrainingConfig(), None)
        for n, p in model.named_parameters():  # lora_B starts at zero: give it weights, so lora_A gets gradients
            if "lora_B" in n:
                torch.nn.init.normal_(p, std=0.02)
        init = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
        rows: list[int] = []
        hook = student.model.register_forward_pre_hook(lambda m, a, kw: rows.append(kw["input_ids"].shape[0]),
                                                       with_kwargs=True)
        result = fit(model, student.tokenizer, prompts, completions, learning_rate=1e-3, epochs=2, batch_size=4,
                     max_length=1024, micro_batch_tokens=1000, share_prefix=share,
                     gradient_checkpointing=checkpointing)  # 2 rows per micro-batch
        hook.remove()
        if checkpointing:
            rows = rows[2:]  # the check that the checkpointed model keeps the prefix's cache: 1 row, then 1 row
        assert rows == ([1, 2] * 12 if share else [2] * 12), rows  # with sharing: the prefix, then the 2 rows
        curves.append(result.losses)
        adapters.append({n: p.detach() - init[n] for n, p in model.named_parameters() if "lora_" in n})
    for other in (1, 2):
        assert len(curves[0]) == 6 and all(abs(a - b) < 1e-4 for a, b in zip(curves[0], curves[other])), curves
        for name in adapters[0]:
            gap = (adapters[0][name] - adapters[other][name]).abs().mean() / adapters[0][name].abs().mean()
            assert gap < 0.01, (other, name, float(gap))


def test_a_model_that_drops_the_prefix_cache_is_refused_not_trained_wrong(tiny_chat_model_dir, monkeypatch):
    """Were transformers to drop the cache under checkpointing (without the layers' permission to keep it), the rows
    would be trained without their exemplars: the check says no, and a forced run raises."""
    import contextlib

    import pytest

    from elad_engine.errors import StudentError
    from elad_engine.student import training
    from elad_engine.student.batching import collate_after_prefix

    student = Student.load(str(tiny_chat_model_dir))
    model, tok = student.model, student.tokenizer
    model.train()
    training._checkpointing(model, True)
    monkeypatch.setattr(training, "_checkpointed_with_cache", lambda model: contextlib.nullcontext())
    assert training._prefix_survives_checkpointing(model) is False
    prompts, completions = _exemplar_pairs(student, 4, 2)
    enc = encode_pairs(tok, prompts, completions, 1024)
    batch = collate_after_prefix(enc, [0, 1, 2, 3], tok.pad_token_id, "cpu")
    with pytest.raises(StudentError, match="share_prefix = false"):
        training.token_loss_sum(model, batch, False)
