"""What the next round's teacher calls should cost, before it starts: typical (the mean call so far, or the prompt
of an empty revision) and worst case (every completion at teacher.max_tokens)."""

from __future__ import annotations

from typing import TypedDict

from ..method.cost import count_message_tokens, dollars
from ..store import Store
from ..teachers.prompts import revision_messages
from .context import RoundContext


class Estimate(TypedDict):
    round: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    usd: float
    worst_completion_tokens: int
    worst_usd: float
    from_history: bool


def estimate_next_round(store: Store, project_id: int) -> Estimate:
    cfg = store.projects.config(project_id)
    done = store.rounds.done(project_id)
    rnd = max(done) + 1 if done else 0
    pool = RoundContext(store, project_id).unlabeled_pool()
    n = min(cfg.rounds.warmup if rnd == 0 else cfg.selection.round_budget, len(pool))
    mean_prompt, mean_completion = store.teacher_calls.mean_call(project_id)
    if mean_prompt is None:
        examples = store.examples.list(project_id, ids=pool[:50])
        prompt = max((count_message_tokens(revision_messages(e, [], None, False, cfg.task.answer_type))
                      for e in examples), default=0)
        completion = cfg.teacher.max_tokens // 4
    else:
        prompt, completion = int(mean_prompt), int(mean_completion)
    price = cfg.teacher.price()
    return {"round": rnd, "calls": n, "prompt_tokens": n * prompt, "completion_tokens": n * completion,
            "usd": dollars(n * prompt, n * completion, price), "worst_completion_tokens": n * cfg.teacher.max_tokens,
            "worst_usd": dollars(n * prompt, n * cfg.teacher.max_tokens, price),
            "from_history": mean_prompt is not None}


def estimate_for(examples: list, cfg) -> dict:
    """What one round of `cfg` should cost on these examples, before the project exists (the guided setup): the
    round's calls at the mean prompt of an empty revision of these questions and a quarter of teacher.max_tokens
    per reply, and the worst case at teacher.max_tokens; the warm-up's full annotations likewise."""
    pool = [e for e in examples if e.split == "pool"] or list(examples)
    sample = pool[:200]
    prompt = (sum(count_message_tokens(revision_messages(e, [], None, False, cfg.task.answer_type)) for e in sample)
              // max(1, len(sample)))
    price = cfg.teacher.price()
    out = {}
    for name, n in (("warm-up", min(cfg.rounds.warmup, len(pool))), ("round", min(cfg.selection.round_budget,
                                                                                   len(pool)))):
        typical, worst = cfg.teacher.max_tokens // 4, cfg.teacher.max_tokens
        out[name] = {"calls": n, "prompt_tokens": n * prompt, "completion_tokens": n * typical,
                     "usd": dollars(n * prompt, n * typical, price), "worst_usd": dollars(n * prompt, n * worst, price)}
    rounds = cfg.rounds.rounds
    out["all"] = {"calls": out["warm-up"]["calls"] + rounds * out["round"]["calls"],
                  "usd": out["warm-up"]["usd"] + rounds * out["round"]["usd"],
                  "worst_usd": out["warm-up"]["worst_usd"] + rounds * out["round"]["worst_usd"]}
    return out
