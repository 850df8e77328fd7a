"""KV-cache branching probes equal the naive computation (each prefix re-encoded from scratch)."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import REPO
from elad_engine.method.reasoning import build_prompt, short_answer, split_steps
from elad_engine.student.model import Student
from elad_engine.student.probes import branched_answer_probs, branched_probe_answers, naive_token_ids
from elad_engine.tasks.synthetic import generate


def naive_answers(student, prompt, steps, max_new_tokens):
    out = []
    for k in range(len(steps) + 1):
        ids = torch.tensor([naive_token_ids(student.tokenizer, prompt, steps, k)])
        gen = student.model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=student.tokenizer.pad_token_id,
                                     eos_token_id=student.tokenizer.eos_token_id)
        out.append(short_answer(student.tokenizer.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)))
    return out


def naive_probs(student, prompt, steps, answer):
    out = []
    t_ids = student.tokenizer(f" {answer}.", add_special_tokens=False)["input_ids"]
    for k in range(len(steps) + 1):
        p_ids = naive_token_ids(student.tokenizer, prompt, steps, k)
        with torch.no_grad():
            logp = torch.log_softmax(student.model(torch.tensor([p_ids + t_ids])).logits[0].float(), -1)
        out.append(math.exp(sum(float(logp[len(p_ids) - 1 + j, t]) for j, t in enumerate(t_ids))))
    return out


def hand_items():
    qs = [build_prompt(e.question) for e in generate(5, 21, {1: 1, 2: 1, 3: 1, 4: 1})]
    # explanations of different lengths in one batch, one with no steps at all
    steps = [[], ["He buys 3 more: 4 + 3 = 7"], ["a", "b 1 + 2 = 3", "c"], ["x = 1", "y = 2", "z = 3", "w = 4", "v"],
             ["She sells 4: 9 - 4 = 5", "She doubles them: 5 * 2 = 10"]]
    return list(zip(qs, steps))


@pytest.mark.parametrize("batch_size", [1, 7, 256])
def test_branched_greedy_probes_equal_naive_on_a_random_model(tiny_model_dir, batch_size):
    student = Student.load(str(tiny_model_dir))
    items = hand_items()
    got = branched_probe_answers(student, items, max_new_tokens=5, batch_size=batch_size)
    assert [len(g) for g in got] == [1, 2, 4, 6, 3]
    assert got == [naive_answers(student, q, s, 5) for q, s in items]


def test_branched_soft_probes_equal_naive_within_1e_4(tiny_model_dir):
    student = Student.load(str(tiny_model_dir))
    items = hand_items()
    answers = ["7", "12", "3", "100", "10"]
    got = branched_answer_probs(student, items, answers, batch_size=9)
    for (q, s), a, row in zip(items, answers, got):
        assert row == pytest.approx(naive_probs(student, q, s, a), abs=1e-4)


@pytest.mark.skipif(not (REPO / "data" / "tiny-student" / "config.json").exists(), reason="shipped student missing")
def test_branched_probes_equal_naive_on_the_shipped_student():
    student = Student.load(str(REPO / "data" / "tiny-student"))
    ex = generate(12, 77)
    texts = student.generate([build_prompt(e.question) for e in ex], max_new_tokens=160)
    items = [(build_prompt(e.question), split_steps(t)[0]) for e, (t,) in zip(ex, texts)]
    got = branched_probe_answers(student, items, max_new_tokens=8, batch_size=32)
    assert got == [naive_answers(student, q, s, 8) for q, s in items]
    assert any(len(set(g)) > 1 for g in got)  # real flips exist, so the comparison means something
