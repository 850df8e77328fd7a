"""Step probes on branches of a KV cache: the answer trigger is decoded after every step boundary of an explanation,
on a copy of the explanation's cache up to that boundary, batched across boundaries and explanations.

The cache comes from the decode loop that wrote the explanation (no second prefill), or from one prefill when
there is none. Token ids are built segment by segment (prompt, each step line, the trigger), so a branch equals the
naive probe (each prefix re-encoded from scratch: `naive_token_ids` + generate) token for token; where the written
tokens differ from the re-encoded ones, only the differing tail is fed on the branch.

The last probe runs first (a greedy explanation wrote it itself: its own answer line); its answer is then a draft
for the other probes of the explanation, fed with their trigger and checked against the model's greedy choice in
the same forward pass (speculative decoding: a probe that agrees with the final answer costs one pass, a probe
that disagrees goes on decoding from the first disagreement), and the same pass teacher-forces ` â_K.` for p_k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..method.reasoning import ANSWER_TRIGGER, short_answer
from . import kv_cache
from .decode import Batch, StopRule, prefill
from .kv_cache import KVStore

BRANCH_BYTES = 256 * 2**20  # keys and values of one batch of branches at most (its rows shrink for long ones)
PREFILL_ROWS = 64  # explanations prefilled together when no decode cache is at hand


def segments(tokenizer, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """(ids of the prompt + all step lines, boundaries b_0..b_K): b_k = tokens before the k-th probe's trigger."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    bounds = [len(ids)]
    for i, step in enumerate(steps, 1):
        ids = ids + tokenizer(f"{i}. {step.strip()}\n", add_special_tokens=False)["input_ids"]
        bounds.append(len(ids))
    return ids, bounds


def naive_token_ids(tokenizer, prompt: str, steps: list[str], k: int) -> list[int]:
    """The k-th probe's input, re-encoded from scratch (the baseline the branched probes must equal)."""
    ids, bounds = segments(tokenizer, prompt, steps)
    return ids[:bounds[k]] + tokenizer(ANSWER_TRIGGER, add_special_tokens=False)["input_ids"]


@dataclass
class Source:
    """A row of a KVStore to branch from: the token ids whose keys and values it holds (position j is ids[j]), and
    every token its explanation wrote, prompt included. A greedy explanation's own answer line is then the last
    probe's answer; a sampled one's is a draft for it."""
    ids: list[int]
    row: int
    written: list[int] | None = None
    greedy: bool = False


@dataclass
class _Lane:
    """One probe on its branch: `reuse` positions of its source, then `feed` (the re-encoded tail the source lacks
    and the trigger), then `draft` (a guess of its greedy answer, the first `scored` tokens of which are the target
    whose probability is wanted)."""
    source: int
    reuse: int
    feed: list[int]
    draft: list[int] = field(default_factory=list)
    scored: int = 0
    decode: bool = True  # False: only the target's probability is wanted
    keep_logp: bool = False  # record the log-probability of every written token
    written: list[int] = field(default_factory=list)
    written_logp: list[float] = field(default_factory=list)
    logp: float = 0.0


def _common(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _prefilled(student, rows: list[list[int]]) -> tuple[KVStore, list[Source]]:
    """One prefill of every explanation when no decode cache is at hand (stored or hand-made explanations)."""
    # not shared: KVStore.of reads each row as one run of columns after its left padding
    batch, _ = prefill(student.model, rows, student.tokenizer.pad_token_id, student.device, 0, share=False)
    store = KVStore.of(batch.cache, [batch.first_column(r) for r in range(len(rows))])
    return store, [Source(ids, r) for r, ids in enumerate(rows)]


def _batches(lanes: list[_Lane], per_position: int, rows: int, extra: int):
    """Lanes in batches of at most `rows` rows and BRANCH_BYTES of branched keys and values, similar widths together."""
    batch: list[_Lane] = []
    for lane in sorted(lanes, key=lambda x: x.reuse + len(x.feed) + len(x.draft)):
        width = lane.reuse + len(lane.feed) + len(lane.draft) + extra  # the widest so far: sorted by width
        if batch and (len(batch) >= rows or (len(batch) + 1) * width * per_position > BRANCH_BYTES):
            yield batch
            batch = []
        batch.append(lane)
    if batch:
        yield batch


def _run(student, store: KVStore, lanes: list[_Lane], max_new_tokens: int, batch_size: int) -> None:
    """Decode every lane greedily (up to max_new_tokens, or until its short answer is complete) and score its target;
    results go into each lane's `written` and `logp`."""
    tok, dev = student.tokenizer, student.device
    stop = student.stop_rule("probe")
    for batch in _batches(lanes, store.bytes_per_position(), batch_size, max_new_tokens):
        cache, mask = kv_cache.branches(store, [x.source for x in batch], [x.reuse for x in batch],
                                        max(len(x.feed) + len(x.draft) for x in batch) + max_new_tokens, student.model)
        branch = Batch(student.model, cache, mask, torch.tensor([x.reuse for x in batch], device=dev))
        width = max(len(x.feed) + len(x.draft) for x in batch)
        tokens = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
        fed = torch.zeros((len(batch), width), dtype=torch.long)
        for r, x in enumerate(batch):
            tokens[r, :len(x.feed) + len(x.draft)] = torch.tensor(x.feed + x.draft)
            fed[r, :len(x.feed) + len(x.draft)] = 1
        logits = branch.feed(tokens.to(dev), fed.to(dev), keep_all_logits=True).float()
        greedy = logits.argmax(-1).tolist()
        active = []  # batch rows (lanes) that go on decoding
        for r, x in enumerate(batch):
            base = len(x.feed) - 1  # logits at position j predict token j + 1
            if x.scored:
                rows = torch.log_softmax(logits[r, base:base + x.scored], dim=-1)
                x.logp = float(rows[torch.arange(x.scored, device=dev), torch.tensor(x.draft[:x.scored], device=dev)]
                               .sum())
            if not x.decode:
                continue
            for j in range(len(x.draft) + 1):  # accept the draft while the model's greedy choice agrees
                x.written.append(greedy[r][base + j])
                if len(x.written) == max_new_tokens or stop.finished(x.written):
                    break
                if j == len(x.draft) or x.written[-1] != x.draft[j]:
                    active.append(r)
                    # The rest of the draft is not this branch's text: mask it out, continue after the accepted part.
                    branch.mask[r, branch.mask.shape[1] - width + len(x.feed) + j:] = 0
                    branch.lengths[r] = x.reuse + len(x.feed) + j
                    break
        _record_logp([(r, len(x.feed) - 1 + j, t) for r, x in enumerate(batch) if x.keep_logp
                      for j, t in enumerate(x.written)], logits, batch)
        lanes_of: list[int] = []  # batch row -> lane, once the batch holds only the rows that go on
        if active:
            lanes_of = branch.compact(active)  # the batch's rows were the lanes in order: new row j is lane order[j]
            last = [batch[r].written[-1] for r in lanes_of]
        while lanes_of:
            logits = branch.feed(torch.tensor([[t] for t in last], device=dev))[:, -1].float()
            chosen = logits.argmax(-1).tolist()
            _record_logp([(i, None, t) for i, (r, t) in enumerate(zip(lanes_of, chosen)) if batch[r].keep_logp],
                         logits, [batch[r] for r in lanes_of])
            keep = []
            for i, (r, t) in enumerate(zip(lanes_of, chosen)):
                batch[r].written.append(t)
                if len(batch[r].written) < max_new_tokens and not stop.finished(batch[r].written):
                    keep.append(i)
            if len(keep) < len(lanes_of):
                order = branch.compact(keep) if keep else []
                lanes_of, chosen = [lanes_of[i] for i in order], [chosen[i] for i in order]
            last = chosen


def _record_logp(picks: list[tuple[int, int | None, int]], logits: torch.Tensor, lanes: list[_Lane]) -> None:
    """Append log P(token) to each picked lane's written_logp: (row, position or None for [rows, V] logits, token),
    one log-softmax over the picked rows only."""
    if not picks:
        return
    rows = torch.tensor([r for r, _, _ in picks], device=logits.device)
    sel = logits[rows] if picks[0][1] is None else logits[rows, torch.tensor([p for _, p, _ in picks],
                                                                               device=logits.device)]
    toks = torch.tensor([t for _, _, t in picks], device=logits.device)
    values = (sel.gather(1, toks[:, None])[:, 0] - torch.logsumexp(sel, dim=-1)).tolist()
    for (r, _, _), v in zip(picks, values):
        lanes[r].written_logp.append(v)


def _plan(student, items, sources, store):
    plans = [segments(student.tokenizer, p, s) for p, s in items]
    if store is None:
        store, sources = _prefilled(student, [ids[:bounds[-1]] for ids, bounds in plans])
    reuse = [_common(ids[:bounds[-1]], src.ids) for (ids, bounds), src in zip(plans, sources)]
    return plans, sources, store, reuse


def _own_answer(trigger: list[int], ids, bounds, src: Source, max_new_tokens: int) -> list[int] | None:
    """What the explanation wrote after its own `The answer is`, when its tokens are the re-encoded steps followed
    by the trigger (so the last probe's input is a prefix of what it wrote); None otherwise."""
    if src.written is None or _common(ids[:bounds[-1]], src.written) < bounds[-1]:
        return None
    at = bounds[-1] + len(trigger)
    if src.written[bounds[-1]:at] != trigger:
        return None
    return src.written[at:at + max_new_tokens]


def _written_answer(stop: StopRule, tail: list[int] | None, max_new_tokens: int) -> list[int] | None:
    """The last probe's continuation when a greedy explanation wrote it itself: greedy decoding from its trigger is
    what it already did (as far as the probe's stop rule reads)."""
    for j in range(1, len(tail or []) + 1):
        if j == max_new_tokens or stop.finished(tail[:j]):
            return tail[:j]
    return None


@torch.no_grad()
def branched_probes(student, items: list[tuple[str, list[str]]], max_new_tokens: int = 8, batch_size: int = 256,
                    sources: list[Source] | None = None, store: KVStore | None = None,
                    probs: bool = False) -> tuple[list[list[str]], list[list[float]] | None]:
    """For each (prompt, steps): the greedy short answers â_0..â_K after each step boundary, and with `probs` the
    soft probe p_k = P(` â_K.` | prefix k + trigger) for k = 0..K. Without a store, each explanation is prefilled."""
    if not items:
        return [], [] if probs else None
    if store is None and len(items) > PREFILL_ROWS:  # hand-made items: a bounded prefill at a time
        parts = [branched_probes(student, items[i:i + PREFILL_ROWS], max_new_tokens, batch_size, probs=probs)
                 for i in range(0, len(items), PREFILL_ROWS)]
        return [a for p in parts for a in p[0]], ([q for p in parts for q in p[1]] if probs else None)
    tok = student.tokenizer
    trigger = tok(ANSWER_TRIGGER, add_special_tokens=False)["input_ids"]
    stop = student.stop_rule("probe")
    plans, sources, store, reuse = _plan(student, items, sources, store)

    def lane(e: int, k: int, **kw) -> _Lane:
        ids, bounds = plans[e]
        c = min(reuse[e], bounds[k])
        return _Lane(sources[e].row, c, ids[c:bounds[k]] + trigger, **kw)

    # The last probe: written by a greedy explanation itself, or decoded with a sampled one's own answer as a draft.
    own = [_own_answer(trigger, *plans[e], sources[e], max_new_tokens) for e in range(len(items))]
    last = [_written_answer(stop, own[e], max_new_tokens) if sources[e].greedy else None for e in range(len(items))]
    lanes = {e: lane(e, len(plans[e][1]) - 1, draft=own[e] or [], keep_logp=probs) for e in range(len(items))
             if last[e] is None}
    _run(student, store, list(lanes.values()), max_new_tokens, batch_size)
    for e, x in lanes.items():
        last[e] = x.written
    finals = [short_answer(tok.decode(w, skip_special_tokens=True)) for w in last]
    # Every other probe (and, for p_K, the last one again unless its decoding scored it), drafted with the final
    # answer.
    others, p_last = {}, {}
    for e, (ids, bounds) in enumerate(plans):
        target = tok(f" {finals[e]}.", add_special_tokens=False)["input_ids"]
        rest = last[e][len(target):max_new_tokens] if last[e][:len(target)] == target else []
        draft = target + rest  # the target whole (p_k needs it), then what the last probe wrote after it
        known = e in lanes and last[e][:len(target)] == target  # p_K from the last probe's own decoding
        if known:
            p_last[e] = sum(lanes[e].written_logp[:len(target)])
        for k in range(len(bounds) - (0 if probs and not known else 1)):
            others[e, k] = lane(e, k, draft=draft, scored=len(target) if probs else 0, decode=k < len(bounds) - 1)
    _run(student, store, list(others.values()), max_new_tokens, batch_size)
    answers = [[short_answer(tok.decode(others[e, k].written, skip_special_tokens=True))
                for k in range(len(bounds) - 1)] + [finals[e]] for e, (_, bounds) in enumerate(plans)]
    if not probs:
        return answers, None
    return answers, [[math.exp(others[e, k].logp) for k in range(len(bounds) - 1)]
                     + [math.exp(p_last[e] if e in p_last else others[e, len(bounds) - 1].logp)]
                     for e, (_, bounds) in enumerate(plans)]


def branched_probe_answers(student, items: list[tuple[str, list[str]]], max_new_tokens: int = 8,
                           batch_size: int = 256) -> list[list[str]]:
    """For each (prompt, steps): the greedy short answers â_0..â_K after each step boundary."""
    return branched_probes(student, items, max_new_tokens, batch_size)[0]


@torch.no_grad()
def branched_answer_probs(student, items: list[tuple[str, list[str]]], answers: list[str],
                          batch_size: int = 256) -> list[list[float]]:
    """For each (prompt, steps) and a given answer: P(` answer.` | prefix k + trigger), k = 0..K, teacher-forced."""
    if not items:
        return []
    if len(items) > PREFILL_ROWS:
        return [row for i in range(0, len(items), PREFILL_ROWS) for row in
                branched_answer_probs(student, items[i:i + PREFILL_ROWS], answers[i:i + PREFILL_ROWS], batch_size)]
    tok = student.tokenizer
    trigger = tok(ANSWER_TRIGGER, add_special_tokens=False)["input_ids"]
    plans, sources, store, reuse = _plan(student, items, None, None)
    lanes = []
    for e, (ids, bounds) in enumerate(plans):
        target = tok(f" {answers[e]}.", add_special_tokens=False)["input_ids"]
        for b in bounds:
            c = min(reuse[e], b)
            lanes.append(_Lane(sources[e].row, c, ids[c:b] + trigger, draft=target, scored=len(target), decode=False))
    _run(student, store, lanes, 0, batch_size)
    out, it = [], iter(lanes)
    for _, bounds in plans:
        out.append([math.exp(next(it).logp) for _ in bounds])
    return out
