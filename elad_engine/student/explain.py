"""The student's work on a chunk of questions: greedy and sampled explanations in the project's prompt style, step
probes (KV-cache branching) and token statistics, as a selection strategy needs them. Used by the explain phase.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import ProjectConfig
from ..method.reasoning import split_steps
from ..method.records import Example, Explanation
from ..method.uncertainty import intra_variant
from ..states import ExplanationKind
from ..tasks.registry import task_for
from .model import Student
from .probes import branched_answer_probs, branched_probe_answers
from .prompt_style import PromptStyle


def explain_examples(student: Student, examples: list[Example], cfg: ProjectConfig, needs: frozenset,
                     seed: int, style: PromptStyle | None = None,
                     check_stop: Callable[[], None] | None = None) -> list[Explanation]:
    """Explanations of `examples`: one greedy each, plus M samples ("samples"), with per-step probe
    answers ("probes"; probe probabilities too when the intra variant reads them, or for "probs") and the greedy
    explanation's NLL and answer entropy ("stats"). `check_stop` runs after every generation batch (it raises to
    stop: a pause or cancel then waits for one batch, not the whole chunk)."""
    tick = (lambda n: check_stop()) if check_stop else None
    s, u, task = cfg.student, cfg.uncertainty, task_for(cfg.task)
    prompts = (style or PromptStyle("completion")).prompts(student.tokenizer, [task.student_text(e) for e in examples])
    prompt_of = {e.id: p for e, p in zip(examples, prompts)}
    choices_of = {e.id: e.choices for e in examples}
    texts = [[t] for (t,) in student.generate(prompts, max_new_tokens=s.max_new_tokens, batch_size=s.batch_size,
                                              on_batch=tick)]
    if "samples" in needs:
        sampled = student.generate(prompts, max_new_tokens=s.max_new_tokens, num_samples=u.samples, sample=True,
                                   temperature=u.temperature, top_p=u.top_p, seed=seed, batch_size=s.batch_size,
                                   on_batch=tick)
        texts = [g + smp for g, smp in zip(texts, sampled)]
    out = []
    for e, group in zip(examples, texts):
        for k, text in enumerate(group):
            steps, raw = split_steps(text)
            out.append(Explanation(e.id, ExplanationKind.GREEDY if k == 0 else ExplanationKind.SAMPLE, k, text, steps,
                                   task.normalize(raw, e.choices)))
    if "probes" in needs:
        items = [(prompt_of[x.example_id], x.steps) for x in out]
        raw = branched_probe_answers(student, items, s.probe_max_tokens, batch_size=s.batch_size * 8)
        for x, answers in zip(out, raw):
            x.probe_answers = [task.normalize(a, choices_of[x.example_id]) for a in answers]
        if intra_variant(u.intra).needs_probs or "probs" in needs:  # p_k of the final probe answer â_K
            probs = branched_answer_probs(student, items, [a[-1] for a in raw], batch_size=s.batch_size * 8)
            for x, p in zip(out, probs):
                x.probe_probs = p
    if "stats" in needs:
        greedy = [x for x in out if x.kind == ExplanationKind.GREEDY]
        stats = student.explanation_stats([prompt_of[x.example_id] for x in greedy],
                                          [x.text for x in greedy], batch_size=s.batch_size)
        for x, (nll, ent) in zip(greedy, stats):
            x.mean_nll, x.answer_entropy = nll, ent
    return out
