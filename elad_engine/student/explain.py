"""The student's work on a chunk of questions: greedy and sampled explanations in the project's prompt style, step
probes branched from each explanation's own KV cache, and token statistics, as a selection strategy needs them.
Used by the explain phase; `python -m benchmarks.scoring` measures it against a naive loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..config import ProjectConfig
from ..method.reasoning import ANSWER_TRIGGER, format_steps, split_steps
from ..method.records import Example, Explanation
from ..method.uncertainty import intra_variant
from ..states import ExplanationKind
from ..tasks.registry import task_for
from .decode import decode_prompts
from .model import Student, truncate_after_answer
from .probes import Source, branched_probes
from .prompt_style import PromptStyle

log = logging.getLogger(__name__)


def explain_examples(student: Student, examples: list[Example], cfg: ProjectConfig, needs: frozenset,
                     seed: int, style: PromptStyle | None = None,
                     check_stop: Callable[[], None] | None = None) -> list[Explanation]:
    """Explanations of `examples`: one greedy each, plus M samples ("samples"), with per-step probe
    answers ("probes"; probe probabilities too when the intra variant reads them, or for "probs") and the greedy
    explanation's NLL and answer entropy ("stats"). `check_stop` runs about twice a second while decoding and
    after every group's probes (it raises to stop: a pause or cancel waits a fraction of a second, not the chunk)."""
    s, u, task = cfg.student, cfg.uncertainty, task_for(cfg.task)
    prompts = (style or PromptStyle("completion")).prompts(student.tokenizer, [task.student_text(e) for e in examples])
    samples = u.samples if "samples" in needs else 0
    probs = "probes" in needs and (intra_variant(u.intra).needs_probs or "probs" in needs)
    out: list[Explanation] = []
    prompt_of = {e.id: p for e, p in zip(examples, prompts)}
    choices_of = {e.id: e.choices for e in examples}
    if not student.own_decode:
        log.info("the student's cache is not a plain dynamic cache: explaining with generate() and naive probes")
        return _explain_with_generate(student, examples, prompts, cfg, needs, samples, probs, seed, check_stop)
    for idx, ids, conts, store in decode_prompts(student, prompts, s.max_new_tokens, samples, u.temperature,
                                                 u.top_p, seed, s.batch_size, keep_kv="probes" in needs,
                                                 tick=check_stop):
        group: list[Explanation] = []
        sources: list[Source] = []
        for i, prompt_ids, row in zip(idx, ids, conts):
            e = examples[i]
            for k, c in enumerate(row):
                text = truncate_after_answer(student.tokenizer.decode(c.tokens, skip_special_tokens=True))
                steps, raw = split_steps(text)
                group.append(Explanation(e.id, ExplanationKind.GREEDY if k == 0 else ExplanationKind.SAMPLE, k, text,
                                         steps, task.normalize(raw, e.choices)))
                if store is not None:
                    sources.append(Source(prompt_ids + c.tokens[:-1], c.kv_row, prompt_ids + c.tokens, k == 0))
        if "probes" in needs:
            items = [(prompt_of[x.example_id], x.steps) for x in group]
            answers, p = branched_probes(student, items, s.probe_max_tokens, batch_size=s.batch_size * 8,
                                         sources=sources, store=store, probs=probs)
            for n, x in enumerate(group):
                x.probe_answers = [task.normalize(a, choices_of[x.example_id]) for a in answers[n]]
                if p is not None:
                    x.probe_probs = p[n]
        out.extend(group)
        if check_stop:
            check_stop()
    order = {e.id: n for n, e in enumerate(examples)}
    out.sort(key=lambda x: (order[x.example_id], x.sample_idx))
    if "stats" in needs:
        _stats(student, out, prompt_of, s.batch_size)
    return out


def _stats(student: Student, out: list[Explanation], prompt_of: dict[str, str], batch_size: int) -> None:
    greedy = [x for x in out if x.kind == ExplanationKind.GREEDY]
    stats = student.explanation_stats([prompt_of[x.example_id] for x in greedy], [x.text for x in greedy],
                                      batch_size=batch_size)
    for x, (nll, ent) in zip(greedy, stats):
        x.mean_nll, x.answer_entropy = nll, ent


def _explain_with_generate(student: Student, examples, prompts, cfg, needs, samples, probs, seed, check_stop):
    """For caches the decode loop cannot drive (sliding windows, recurrent layers): generate() and one probe per
    prefix, re-encoded as one string (so a prefix may tokenize unlike the segment-wise branches)."""
    s, u, task = cfg.student, cfg.uncertainty, task_for(cfg.task)
    tick = (lambda n: check_stop()) if check_stop else None
    texts = [[t] for (t,) in student.generate(prompts, max_new_tokens=s.max_new_tokens, batch_size=s.batch_size,
                                              on_batch=tick)]
    if samples:
        sampled = student.generate(prompts, max_new_tokens=s.max_new_tokens, num_samples=samples, sample=True,
                                   temperature=u.temperature, top_p=u.top_p, seed=seed, batch_size=s.batch_size,
                                   on_batch=tick)
        texts = [g + smp for g, smp in zip(texts, sampled)]
    out = []
    for e, p, group in zip(examples, prompts, texts):
        for k, text in enumerate(group):
            steps, raw = split_steps(text)
            x = Explanation(e.id, ExplanationKind.GREEDY if k == 0 else ExplanationKind.SAMPLE, k, text, steps,
                            task.normalize(raw, e.choices))
            if "probes" in needs:
                prefixes = [p + format_steps(steps[:j]) + ANSWER_TRIGGER for j in range(len(steps) + 1)]
                answers = student.probe_answers(prefixes, s.probe_max_tokens)
                x.probe_answers = [task.normalize(a, e.choices) for a in answers]
                if probs:
                    x.probe_probs = student.answer_probs(prefixes, [answers[-1]] * len(prefixes))
            out.append(x)
    if "stats" in needs:
        _stats(student, out, {e.id: p for e, p in zip(examples, prompts)}, s.batch_size)
    return out

