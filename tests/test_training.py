"""Fine-tuning: LoRA and full on a tiny model lower the loss; the loss covers the explanation only."""

from __future__ import annotations

import json

from elad_engine.config import TrainingConfig
from elad_engine.method.reasoning import build_prompt
from elad_engine.student.model import Student
from elad_engine.student.tiny import build_tokenizer, tokenizer_corpus
from elad_engine.student.training import encode_pairs, train_student
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

    from elad_engine.student.training import collate, collate_packed

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
