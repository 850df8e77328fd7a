"""The engine's decode loop (explain and probes) gives what the naive path gives: greedy explanations and greedy
probe answers token for token, sampled explanations draw for draw as generate() under the same seed, on a tiny
random GPT-2, a tiny random Llama and the shipped student; with one prefill per decode group, rows that leave the
batch as they finish, and probes that never re-encode an explanation."""

from __future__ import annotations

import pytest
import torch
from test_probes import naive_answers, naive_probs

import elad_engine.student.decode as decode_module
from conftest import REPO
from elad_engine.config import ProjectConfig
from elad_engine.method.reasoning import build_prompt, short_answer, split_steps
from elad_engine.states import ExplanationKind
from elad_engine.student import kv_cache
from elad_engine.student.decode import answer_line_done, short_answer_done
from elad_engine.student.explain import explain_examples
from elad_engine.student.model import Student, truncate_after_answer
from elad_engine.student.prompt_style import Exemplar, PromptStyle, pick_exemplars
from elad_engine.tasks.registry import task_for
from elad_engine.tasks.synthetic import generate

SHIPPED = REPO / "data" / "tiny-student"
NEEDS = frozenset({"samples", "probes", "probs"})


def config(path, **overrides) -> ProjectConfig:
    settings = {"student.path": str(path), "student.max_new_tokens": 24, "student.probe_max_tokens": 4,
                "uncertainty.samples": 2, "student.batch_size": 4}
    settings.update(overrides)
    return ProjectConfig().with_overrides(**settings)


def naive_greedy(student: Student, prompt: str, max_new_tokens: int) -> str:
    ids = torch.tensor([student.tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    tok = student.tokenizer
    out = student.model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)
    return truncate_after_answer(student.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))


def check_against_naive(student: Student, cfg: ProjectConfig, examples, seed: int = 5,
                        style: PromptStyle | None = None) -> list:
    got = explain_examples(student, examples, cfg, NEEDS, seed=seed, style=style)
    prompts = style.prompts(student.tokenizer, [e.question for e in examples]) if style else \
        [build_prompt(e.question) for e in examples]
    u, s, task = cfg.uncertainty, cfg.student, task_for(cfg.task)
    sampled = student.generate(prompts, max_new_tokens=s.max_new_tokens, num_samples=u.samples, sample=True,
                               temperature=u.temperature, top_p=u.top_p, seed=seed, batch_size=s.batch_size)
    for e, prompt, samples in zip(examples, prompts, sampled):
        mine = [x for x in got if x.example_id == e.id]
        assert [x.kind for x in mine] == [ExplanationKind.GREEDY] + [ExplanationKind.SAMPLE] * u.samples
        assert mine[0].text == naive_greedy(student, prompt, s.max_new_tokens)
        assert [x.text for x in mine[1:]] == samples  # the same draws as generate() under the same seed
        for x in mine:
            assert x.steps == split_steps(x.text)[0]
            raw = naive_answers(student, prompt, x.steps, s.probe_max_tokens)
            assert x.probe_answers == [task.normalize(a, e.choices) for a in raw]
            assert x.probe_probs == pytest.approx(naive_probs(student, prompt, x.steps, raw[-1]), abs=1e-4)
    return got


def test_gpt2_decode_loop_equals_naive_greedy_generate_samples_and_probes(tiny_model_dir):
    student = Student.load(str(tiny_model_dir))
    got = check_against_naive(student, config(tiny_model_dir), generate(6, 3))
    assert len(got) == 18 and any(x.steps for x in got)


def test_llama_decode_loop_equals_naive_greedy_generate_samples_and_probes(tiny_chat_model_dir):
    student = Student.load(str(tiny_chat_model_dir))
    assert kv_cache.supports(student.model)
    got = check_against_naive(student, config(tiny_chat_model_dir, **{"student.batch_size": 6}), generate(5, 4))
    assert any(x.steps for x in got)


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="shipped student missing")
def test_the_shipped_student_equals_naive_and_its_probes_branch_from_the_decode_cache():
    student = Student.load(str(SHIPPED))
    cfg = config(SHIPPED, **{"student.max_new_tokens": 160, "student.probe_max_tokens": 8,
                             "uncertainty.samples": 4, "student.batch_size": 8})
    calls: list[tuple[int, int]] = []
    hook = student.model.register_forward_pre_hook(
        lambda m, a, kw: calls.append(tuple(kw["input_ids"].shape)), with_kwargs=True)
    try:
        got = explain_examples(student, generate(10, 12), cfg, NEEDS, seed=2)
    finally:
        hook.remove()
    # One prefill for the decode group (all 10 questions: two of generate()'s batches of 8 and 2, one group); every
    # other forward feeds at most a probe's few tokens.
    long = [c for c in calls if c[1] > 12]
    assert len(long) == 1 and long[0][0] == 10, long
    # Rows leave as they finish: the decode batch shrinks (50 rows at first, 5 per question).
    decode_rows = [r for r, t in calls if t == 1]
    assert decode_rows[0] == 50 and min(decode_rows) < 50
    # Every explanation stops at the end of its answer line (or its end-of-sequence token), not at 160 tokens.
    assert all(x.text.rstrip().endswith(".") for x in got if x.answer is not None)
    assert any(len(set(x.probe_answers)) > 1 for x in got)  # real flips, so the comparison below means something
    check_against_naive(student, cfg, generate(10, 12), seed=2)


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="shipped student missing")
def test_a_shared_exemplar_prefix_is_prefilled_once_and_changes_nothing():
    """Few-shot prompts share their exemplars: the group runs them once on one row, copies their keys and values to
    every row and runs only each question after them. Explanations, samples, probes and probe probabilities stay
    what the naive path gives (the probes branch from caches with masked padding between prefix and question)."""
    student = Student.load(str(SHIPPED))  # 256 positions: one short exemplar
    shot = Exemplar("Ann has 2 pens. She buys 3 more. How many pens does Ann have now?",
                    "1. She buys 3 more: 2 + 3 = 5\nThe answer is 5.")
    style = PromptStyle("completion", exemplars=(shot,))
    cfg = config(SHIPPED, **{"student.max_new_tokens": 60, "student.probe_max_tokens": 8,
                             "uncertainty.samples": 2, "student.batch_size": 8})
    examples = generate(8, 12)
    prompts = style.prompts(student.tokenizer, [e.question for e in examples])
    ids = [student.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    shared = decode_module.shared_prefix(ids)
    assert shared >= decode_module.SHARED_PREFIX_MIN
    calls: list[tuple[int, int]] = []
    hook = student.model.register_forward_pre_hook(
        lambda m, a, kw: calls.append(tuple(kw["input_ids"].shape)), with_kwargs=True)
    try:
        explain_examples(student, examples, cfg, NEEDS, seed=3, style=style)
    finally:
        hook.remove()
    check_against_naive(student, cfg, examples, seed=3, style=style)
    assert (1, shared) in calls  # the prefix, once, on one row
    assert (8, max(map(len, ids)) - shared) in calls  # then only the questions, all 8 rows
    assert not any(rows > 1 and width >= shared for rows, width in calls)  # never the whole prompt per row

    # The logits after a shared prefill are the full prefill's.
    batch, logits = decode_module.prefill(student.model, ids, student.tokenizer.pad_token_id, student.device, 4)
    _, whole = decode_module.prefill(student.model, ids, student.tokenizer.pad_token_id, student.device, 4,
                                     share=False)
    assert torch.allclose(logits, whole, atol=1e-4)
    assert batch.mask.shape == (8, max(map(len, ids))) and batch.lengths.tolist() == list(map(len, ids))


def test_a_shared_chat_prefix_on_a_llama_changes_nothing(tiny_chat_model_dir):
    """The same on a Llama (rotary positions): a chat template's system turn and two exemplars shared."""
    student = Student.load(str(tiny_chat_model_dir))
    style = PromptStyle("chat", exemplars=pick_exemplars(generate(20, 3), 2, seed=1))
    examples = generate(6, 5)
    ids = [student.tokenizer(p, add_special_tokens=False)["input_ids"]
           for p in style.prompts(student.tokenizer, [e.question for e in examples])]
    assert decode_module.shared_prefix(ids) >= decode_module.SHARED_PREFIX_MIN
    check_against_naive(student, config(tiny_chat_model_dir, **{"student.batch_size": 6}), examples, style=style)


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="shipped student missing")
def test_samples_do_not_depend_on_how_many_questions_decode_together(monkeypatch):
    """Decode groups hold several of generate()'s batches, each with its own seed: a smaller memory budget (or an
    out-of-memory retry) makes smaller groups and the same draws."""
    student = Student.load(str(SHIPPED))
    cfg = config(SHIPPED, **{"student.max_new_tokens": 80, "student.batch_size": 8})
    examples = generate(12, 31)
    whole = explain_examples(student, examples, cfg, NEEDS, seed=9)
    monkeypatch.setattr(kv_cache, "decode_budget", lambda device: 1)  # one question's rows per group
    one_at_a_time = explain_examples(student, examples, cfg, NEEDS, seed=9)
    assert [(x.text, x.probe_answers) for x in one_at_a_time] == [(x.text, x.probe_answers) for x in whole]

    monkeypatch.undo()
    real_decode, seen = decode_module.decode, []

    def tight_memory(model, tokenizer, prompt_ids, **kw):
        seen.append(len(prompt_ids))
        if len(prompt_ids) > 4:
            raise torch.OutOfMemoryError("simulated")
        return real_decode(model, tokenizer, prompt_ids, **kw)

    monkeypatch.setattr(decode_module, "decode", tight_memory)
    retried = explain_examples(student, examples, cfg, NEEDS, seed=9)
    assert seen[0] == 12 and sum(n for n in seen if n <= 4) == 12  # halved down to generate()'s batches of 4
    assert [x.text for x in retried] == [x.text for x in whole]


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="shipped student missing")
def test_the_generate_fallback_for_other_caches_gives_the_same_results():
    student = Student.load(str(SHIPPED))
    cfg = config(SHIPPED, **{"student.max_new_tokens": 160, "student.probe_max_tokens": 8})
    examples = generate(6, 41)
    engine = explain_examples(student, examples, cfg, NEEDS, seed=1)
    student.own_decode = False  # as for a model with a sliding-window or recurrent cache
    fallback = explain_examples(student, examples, cfg, NEEDS, seed=1)
    assert [(x.text, x.probe_answers) for x in fallback] == [(x.text, x.probe_answers) for x in engine]
    for a, b in zip(fallback, engine):
        assert a.probe_probs == pytest.approx(b.probe_probs, abs=1e-4)


def test_stop_rules_stop_where_the_cut_text_is_final():
    assert not answer_line_done("1. 3 + 4 = 7\nThe answer is 7")
    assert answer_line_done("1. 3 + 4 = 7\nThe answer is 7.\n")
    assert not answer_line_done("1. a\n2. b\n")
    for full in [" 18.\nThe", " 3.5 apples. Then", " 7", " twelve\n", "  4.", " 1.25.5. x"]:
        for cut in range(1, len(full) + 1):
            if short_answer_done(full[:cut]):  # stopping here gives what the whole text gives
                assert short_answer(full[:cut]) == short_answer(full), (full, cut)
                break


def test_greedy_generate_runs_on_the_decode_loop_and_equals_hf_generate(tiny_model_dir, tiny_chat_model_dir):
    for path in (tiny_model_dir, tiny_chat_model_dir):
        student = Student.load(str(path))
        assert student.own_decode
        prompts = [build_prompt(e.question) for e in generate(7, 8)]
        got = student.generate(prompts, max_new_tokens=20, batch_size=3)
        assert [t for (t,) in got] == [naive_greedy(student, p, 20) for p in prompts]


def test_a_sliding_window_cache_is_left_to_generate():
    from transformers import MistralConfig, MistralForCausalLM

    model = MistralForCausalLM(MistralConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=1, sliding_window=4))
    assert not kv_cache.supports(model)


def test_right_padding_is_fed_at_position_zero_not_past_the_models_last_position():
    """A probe batch right-pads its rows' fed tokens; padding past a long row's end once passed GPT-2's last
    position (an IndexError in the 10,000-question explain run)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from elad_engine.student.decode import prefill

    model = GPT2LMHeadModel(GPT2Config(vocab_size=30, n_positions=16, n_embd=16, n_layer=1, n_head=2)).eval()
    batch, _ = prefill(model, [[3] * 14, [4, 5]], 0, torch.device("cpu"), reserve=8)
    tokens = torch.tensor([[6, 0, 0], [6, 7, 8]])
    fed = torch.tensor([[1, 0, 0], [1, 1, 1]])
    logits = batch.feed(tokens, fed, keep_all_logits=True)  # row 0 would put its padding at 15 and 16
    assert logits.shape[:2] == (2, 3) and batch.lengths.tolist() == [15, 5]


def _warper_scores(temperature: float, top_p: float, scores: torch.Tensor) -> torch.Tensor:
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper
    return LogitsProcessorList([TemperatureLogitsWarper(temperature), TopPLogitsWarper(top_p=top_p)])(None, scores)


def test_top_p_cut_from_the_top_tokens_equals_the_warpers_sort_of_the_whole_vocabulary():
    """generate()'s draws depend on exactly which tokens top-p keeps: the cut from the 64 most likely tokens must
    reach the softmax with the warper's scores bit for bit, on peaked rows (cut fast), flat rows (the nucleus lies
    outside the window: sorted), bfloat16 logits (ties), a tie at the cut and a mass on top_p itself."""
    gen = torch.Generator().manual_seed(0)
    vocab, rows = 49152, 192
    scale = torch.linspace(0.3, 6.0, rows).unsqueeze(-1)
    logits = torch.randn(rows, vocab, generator=gen) * scale
    logits[:, :8] += torch.linspace(0.0, 30.0, rows).unsqueeze(-1)  # from flat rows to a few likely tokens
    tie = torch.full((1, vocab), -20.0)
    tie[0, :3] = torch.tensor([5.0, 3.0, 3.0])  # masses 0.787, 0.107, 0.107: top_p 0.85 cuts between the tied two
    on_p = torch.full((1, vocab), -1e4)
    on_p[0, :2] = torch.log(torch.tensor([0.9, 0.1]))  # the first token's mass is top_p itself
    for temperature, top_p in ((0.7, 0.95), (1.0, 0.9), (1.0, 0.85), (1.3, 0.5)):
        for scores in (logits, logits.bfloat16().float(), tie, on_p):
            sampler = decode_module.Sampler(temperature, top_p)
            got, want = sampler.warp(scores.clone()), _warper_scores(temperature, top_p, scores.clone())
            assert torch.equal(got, want), (temperature, top_p, (got != want).any(-1).nonzero().flatten()[:5])
    sampler = decode_module.Sampler(0.7, 0.95)
    sampler.warp(logits)
    assert sampler.rows_cut > rows // 2 and sampler.rows_sorted > 0, (sampler.rows_cut, sampler.rows_sorted)
    for scores, top_p in ((tie, 0.85), (on_p, 0.9)):  # ambiguous rows go through the warper
        sampler = decode_module.Sampler(1.0, top_p)
        sampler.warp(scores)
        assert (sampler.rows_cut, sampler.rows_sorted) == (0, 1)
