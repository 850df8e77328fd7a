"""The engine's own decode loop (explain and probes): one prefill per prompt shared by its greedy and M sampled
continuations, the prompts' common prefix (a chat template's system turn and few-shot exemplars) prefilled once per
group, rows dropped from the batch as they finish, stop rules checked inside the loop, and each finished row's KV
cache kept on request so its probes branch from it without a second prefill.

Greedy rows are argmax like `generate()`. Sampled rows draw exactly what `generate(do_sample=True,
num_return_sequences=M)` draws for the same prompts under the same seed: its warpers (temperature, top-p), then
one Exp(1) noise tensor over all its sample rows per step (torch.multinomial's own method), so dropping a finished
row does not shift the others' random numbers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import TemperatureLogitsWarper, TopPLogitsWarper

from ..errors import StudentError
from ..method.reasoning import ANSWER_TRIGGER
from . import kv_cache
from .batching import SHARED_PREFIX_MIN, shared_prefix
from .kv_cache import KVStore


@dataclass
class Continuation:
    """One decoded row: its new tokens (up to and including the one that stopped it), and, when kept, its row in the
    decode's KVStore: the keys and values of its prompt and of every new token but the last (those it was fed)."""
    tokens: list[int]
    kv_row: int | None = None


class StopRule:
    """When a row is finished: at the end-of-sequence token, or when `done(text)` holds for its decoded text. The
    text is decoded only after a token whose own text contains one of `marks` (a newline, say), so a 160-token
    explanation is decoded a handful of times, not 160."""

    def __init__(self, tokenizer, done: Callable[[str], bool], marks: tuple[str, ...]):
        self.tokenizer, self.done, self.eos = tokenizer, done, tokenizer.eos_token_id
        pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        self.marked = {i for i, p in enumerate(pieces) if any(m in p for m in marks)}

    def finished(self, tokens: list[int]) -> bool:
        last = tokens[-1]
        if last == self.eos:
            return True
        return last in self.marked and self.done(self.tokenizer.decode(tokens, skip_special_tokens=True))


def answer_line_done(text: str) -> bool:
    """The explanation has its answer line and the line has ended (what truncate_after_answer keeps is final)."""
    at = text.find(ANSWER_TRIGGER)
    return at >= 0 and text.find("\n", at) >= 0


_SENTENCE_END = re.compile(r"\.\s|\n")


def short_answer_done(text: str) -> bool:
    """A probe's short answer is final: a line break, or a full stop followed by white space (see short_answer)."""
    return _SENTENCE_END.search(text) is not None


# What ends a row of each kind, and the token texts after which that is checked.
STOP_RULES = {"explanation": (answer_line_done, ("\n",)), "probe": (short_answer_done, ("\n", ".", " ", "\t"))}


TICK_S = 0.5
MAX_GROUP = 256  # questions decoded together at most (their rows: 1 + M each)
COMPACT_SHARE = 4  # finished rows are dropped once they are an eighth of the batch (or its last row)


class Sampler:
    """generate()'s sampling: its warpers in its order, then softmax and the exponential race of torch.multinomial.

    Top-p is cut from the TOP_P_WINDOW most likely tokens where the nucleus lies inside them, instead of
    TopPLogitsWarper's sort of the whole vocabulary (on SmolLM2, 32 rows x 49,152 tokens: a 62 ms sort per step
    against 3 ms). The cut is the warper's own: a row is cut this way only when its cumulative mass is nowhere within
    TOP_P_MARGIN of top_p (the warper sums 49,152 float32 values from the other end, so its rounding differs from
    ours by far less) and the last token kept does not tie the first one left out; every other row goes through the
    warper. The scores that reach the softmax are then the warper's, bit for bit (`tests/test_decode.py`)."""

    TOP_P_WINDOW = 64
    TOP_P_MARGIN = 1e-3

    def __init__(self, temperature: float, top_p: float):
        self.temperature = TemperatureLogitsWarper(temperature) if temperature != 1.0 else None
        self.top_p = top_p
        self.top_p_warper = TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1) if top_p < 1.0 else None
        self.rows_cut, self.rows_sorted = 0, 0  # how often each path ran, for --parts and the tests

    def warp(self, scores: torch.Tensor) -> torch.Tensor:
        if self.temperature is not None:
            scores = self.temperature(None, scores)
        if self.top_p_warper is None:
            return scores
        window = self.TOP_P_WINDOW + 1
        if scores.shape[-1] <= window:
            self.rows_sorted += scores.shape[0]
            return self.top_p_warper(None, scores)
        top, idx = scores.topk(window, dim=-1)  # descending
        mass = (top - scores.logsumexp(-1, keepdim=True)).exp()
        above = mass.cumsum(-1) - mass  # the mass of the tokens more likely than each
        keep = above < self.top_p
        kept = keep.sum(-1, keepdim=True)  # the warper keeps a prefix of the descending order
        inside = kept < window  # a token of the window is left out, and so is every token below it
        clear = ((above - self.top_p).abs() > self.TOP_P_MARGIN).all(-1, keepdim=True)
        no_tie = top.gather(-1, (kept - 1).clamp(max=window - 2)) != top.gather(-1, kept.clamp(max=window - 1))
        cut = (inside & clear & no_tie).squeeze(-1)
        remove = torch.ones_like(scores, dtype=torch.bool).scatter_(-1, idx, ~keep)
        out = scores.masked_fill(remove, self.top_p_warper.filter_value)
        if not bool(cut.all()):
            rest = (~cut).nonzero().squeeze(-1)
            out[rest] = self.top_p_warper(None, scores[rest])
        cutting = int(cut.sum())
        self.rows_cut, self.rows_sorted = self.rows_cut + cutting, self.rows_sorted + scores.shape[0] - cutting
        return out

    def pick(self, scores: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.warp(scores), dim=-1)
        return (probs / noise).argmax(-1)


class Batch:
    """Rows decoding together on one cache: left-padded, each row at its own position; rows leave as they finish."""

    def __init__(self, model, cache, mask: torch.Tensor, lengths: torch.Tensor):
        self.model, self.cache, self.mask, self.lengths = model, cache, mask, lengths

    @torch.no_grad()
    def feed(self, tokens: torch.Tensor, input_mask: torch.Tensor | None = None,
             keep_all_logits: bool = False) -> torch.Tensor:
        """Feed tokens [rows, T] (right-padded where input_mask is 0) at each row's next positions; logits [rows, T,
        V] or [rows, 1, V]."""
        input_mask = torch.ones_like(tokens) if input_mask is None else input_mask
        # Each real token at its row's next position, padding (right or left) at position 0: past a row's end it
        # could pass the model's last position (GPT-2's 1,024, the tiny student's 256) and it is masked anyway.
        positions = (self.lengths[:, None] + input_mask.cumsum(1) - 1) * input_mask
        self.mask = torch.cat([self.mask, input_mask], dim=1)
        out = self.model(input_ids=tokens, attention_mask=self.mask, position_ids=positions, cache=self.cache,
                         use_cache=True, logits_to_keep=0 if keep_all_logits else 1)
        self.lengths = self.lengths + input_mask.sum(1)
        return out.logits

    def keep(self, rows: list[int], room: int | None = None) -> None:
        """Keep only `rows` (indices into the current batch) with `room` positions to grow into, then trim padding
        columns no kept row needs."""
        idx = torch.tensor(rows, device=self.mask.device)
        kv_cache.select_rows(self.cache, idx, room)
        self.mask, self.lengths = self.mask[idx], self.lengths[idx]
        lead = int(self.mask.argmax(1).min())  # the first real column of the row that starts earliest
        kv_cache.trim_left(self.cache, lead)
        self.mask = self.mask[:, lead:]

    def compact(self, live: list[int]) -> list[int]:
        """Drop every row not in `live`: the live rows past the new end move into the holes before it (only they are
        copied). Returns the new order: new row j is old row order[j]."""
        n, alive = len(live), set(live)
        holes = [i for i in range(n) if i not in alive]
        movers = [i for i in live if i >= n]
        order = list(range(n))
        for h, m in zip(holes, movers):
            order[h] = m
        dev = self.mask.device
        dst, src = torch.tensor(holes, dtype=torch.long, device=dev), torch.tensor(movers, dtype=torch.long, device=dev)
        for layer in self.cache.layers:
            layer.fill_holes(dst, src, n)
        idx = torch.tensor(order, device=dev)
        self.mask, self.lengths = self.mask[idx], self.lengths[idx]
        lead = int(self.mask.argmax(1).min())
        kv_cache.trim_left(self.cache, lead)
        self.mask = self.mask[:, lead:]
        return order

    def first_column(self, row: int) -> int:
        return int(self.mask[row].argmax())

    def columns(self, row: int) -> torch.Tensor | slice:
        """The cache columns holding the row's positions, in order: a slice past its left padding, or, after a shared
        prefix, the prefix's columns and its own (the padding between them left out)."""
        real = self.mask[row].nonzero().squeeze(1)
        first, last = int(real[0]), int(real[-1])
        return slice(first, None) if last - first + 1 == len(real) and last == self.mask.shape[1] - 1 else real


def _left_padded(prompt_ids: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompt_ids)
    tokens = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for r, p in enumerate(prompt_ids):
        tokens[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[r, width - len(p):] = 1
    return tokens.to(device), mask.to(device)


def prefill(model, prompt_ids: list[list[int]], pad_id: int, device, reserve: int,
            share: bool = True) -> tuple[Batch, torch.Tensor]:
    """The prompts through the model once; the batch and each prompt's next-token logits [n, V].

    Prompts are left-padded. With `share` and a common prefix of SHARED_PREFIX_MIN tokens or more, the prefix is
    run once on one row, its keys and values copied to every row, and only the rest of each prompt is run, left-
    padded after it: a row's cache is then [prefix][padding][own tokens], the padding masked (Batch.columns).
    Three exemplars of a chat prompt are about 85% of its tokens (456 of 530 on GSM8K with SmolLM2)."""
    n, shared = len(prompt_ids), shared_prefix(prompt_ids) if share else 0
    if shared < SHARED_PREFIX_MIN:
        tokens, mask = _left_padded(prompt_ids, pad_id, device)
        batch = Batch(model, kv_cache.new_cache(model, reserve), mask, mask.sum(1))
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        with torch.no_grad():
            out = model(input_ids=tokens, attention_mask=mask, position_ids=positions, cache=batch.cache,
                        use_cache=True, logits_to_keep=1)
        return batch, out.logits[:, -1]
    prefix = torch.tensor([prompt_ids[0][:shared]], dtype=torch.long, device=device)
    one = torch.ones_like(prefix)
    cache = kv_cache.new_cache(model, 0)
    with torch.no_grad():
        model(input_ids=prefix, attention_mask=one, position_ids=torch.arange(shared, device=device)[None],
              cache=cache, use_cache=True, logits_to_keep=1)
    tokens, mask = _left_padded([p[shared:] for p in prompt_ids], pad_id, device)
    kv_cache.select_rows(cache, torch.zeros(n, dtype=torch.long, device=device), room=tokens.shape[1] + reserve)
    batch = Batch(model, cache, one.expand(n, shared), torch.full((n,), shared, dtype=torch.long, device=device))
    return batch, batch.feed(tokens, mask)[:, -1]


def decode(model, tokenizer, prompt_ids: list[list[int]], *, max_new_tokens: int, stop: StopRule, samples: int = 0,
           sampler: Sampler | None = None, generators: list[tuple[int, torch.Generator]] = (),
           keep_kv: bool = False, device=None,
           tick: Callable[[], None] | None = None) -> tuple[list[list[Continuation]], KVStore | None]:
    """For each prompt: a greedy continuation, then `samples` sampled ones, all from one prefill of the prompt; and,
    with keep_kv, the store of every row's keys and values.

    `generators` cut the prompts into consecutive runs (count, generator): the sample rows of a run draw exactly
    what generate(num_return_sequences=samples) draws for those prompts as one batch from that generator's state.
    `tick` runs every TICK_S seconds between steps (a pause or cancel check: it raises to stop)."""
    device = device or next(model.parameters()).device
    n = len(prompt_ids)
    # With samples the prompt's cache is copied into 1 + M rows with room to grow: the prefill reserves nothing.
    batch, first = prefill(model, prompt_ids, tokenizer.pad_token_id, device, reserve=0 if samples else max_new_tokens)
    # Row order: the n greedy rows, then each prompt's samples together (generate's repeat_interleave order).
    owner = list(range(n)) + [p for p in range(n) for _ in range(samples)]
    runs, at = [], 0  # (first sample row, sample rows, generator) per run
    for count, gen in generators if samples else ():
        runs.append((n + at * samples, count * samples, gen))
        at += count
    if samples:
        batch.keep(owner, room=max_new_tokens)
    logits = first[torch.tensor(owner, device=device)].float()
    out = [Continuation([]) for _ in owner]
    store = KVStore.empty(batch.cache, len(owner), batch.mask.shape[1] + max_new_tokens) if keep_kv else None
    slots: list[int | None] = list(range(len(owner)))  # batch row -> output row; None: finished, not yet dropped
    ticked = time.monotonic()
    for step in range(max_new_tokens):
        if tick and time.monotonic() - ticked > TICK_S:
            tick()
            ticked = time.monotonic()
        nxt = logits.argmax(-1)
        if samples:
            _sample(nxt, logits, slots, runs, sampler, device)
        chosen = nxt.tolist()
        for i, r in enumerate(slots):
            if r is None:
                continue
            out[r].tokens.append(chosen[i])
            if step == max_new_tokens - 1 or stop.finished(out[r].tokens):
                if store is not None:
                    store.put(r, batch.cache, i, batch.columns(i))
                    out[r].kv_row = r
                slots[i] = None
        live = [i for i, r in enumerate(slots) if r is not None]
        if not live:
            break
        if len(slots) - len(live) >= max(1, len(slots) // COMPACT_SHARE):
            # Finished rows leave in bulk: copying the cache for every single one would cost more than they do.
            order = batch.compact(live)
            slots, chosen = [slots[i] for i in order], [chosen[i] for i in order]
        tokens = torch.tensor([[t if r is not None else tokenizer.pad_token_id] for t, r in zip(chosen, slots)],
                              device=device)
        logits = batch.feed(tokens)[:, -1].float()
    return [[out[p]] + [out[n + p * samples + s] for s in range(samples)] for p in range(n)], store


def _sample(nxt: torch.Tensor, logits: torch.Tensor, slots: list[int | None], runs, sampler: Sampler, device) -> None:
    """Overwrite the sample rows of `nxt` with their draws; each run with a live row draws its whole noise tensor."""
    for first, count, gen in runs:
        rows = [i for i, r in enumerate(slots) if r is not None and first <= r < first + count]
        if rows:
            noise = torch.empty((count, logits.shape[-1]), device=device).exponential_(1, generator=gen)
            at = torch.tensor(rows, device=device)
            nxt[at] = sampler.pick(logits[at], noise[torch.tensor([slots[i] - first for i in rows], device=device)])


def decode_prompts(student, prompts: list[str], max_new_tokens: int, samples: int, temperature: float,
                   top_p: float, seed: int, batch_size: int, keep_kv: bool, tick: Callable[[], None] | None = None):
    """Yield (prompt indices, their token ids, their continuations, their KVStore or None) group by group.

    The prompts are sorted by length and cut into generate()'s batches for the same batch_size (batch_size // M
    prompts when sampling), each with a generator seeded with seed + its start, so the sampled rows draw what
    generate() draws. A decode group holds as many of those batches as the device's decode budget for keys and
    values allows (up to MAX_GROUP questions): more rows per forward pass, the same draws. A group that runs out
    of memory is halved. `tick` runs about twice a second inside the loop (it raises to stop)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    per = max(1, min(batch_size, student.max_rows or batch_size) // samples) if samples else batch_size
    runs = [(s, order[s:s + per]) for s in range(0, len(order), per)]
    ids = {i: student.tokenizer(prompts[i], add_special_tokens=False)["input_ids"] for i in order}
    per_row = kv_cache.bytes_per_position(student.model) * (max(map(len, ids.values()), default=0) + max_new_tokens)
    rows_fit = max(1, kv_cache.decode_budget(student.device) // (per_row * (2 if keep_kv else 1)))
    questions = max(1, min(MAX_GROUP, rows_fit // (1 + samples)))
    pending = []
    for run in runs:
        if pending and sum(len(r[1]) for r in pending[-1]) + len(run[1]) <= questions:
            pending[-1].append(run)
        else:
            pending.append([run])
    sampler = Sampler(temperature, top_p)
    while pending:
        group = pending.pop(0)
        idx = [i for _, run in group for i in run]
        gens = [(len(run), torch.Generator(device=student.device).manual_seed(seed + start)) for start, run in group]
        try:
            conts, store = decode(student.model, student.tokenizer, [ids[i] for i in idx],
                                  max_new_tokens=max_new_tokens, stop=student.stop_rule("explanation"),
                                  samples=samples, sampler=sampler, generators=gens, keep_kv=keep_kv,
                                  device=student.device, tick=tick)
        except torch.OutOfMemoryError:
            if student.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(group) > 1:  # fewer of generate()'s batches at a time: the same draws
                pending[:0] = [group[:len(group) // 2], group[len(group) // 2:]]
                continue
            (start, run), = group
            if len(run) == 1:
                raise StudentError("One question's explanations do not fit in the device's memory: lower "
                                   "student.max_new_tokens or uncertainty.samples, or use a smaller student.") from None
            half = len(run) // 2  # as generate() does: the halves are seeded by their own starts
            student.max_rows = half * max(1, samples)
            pending[:0] = [[(start, run[:half])], [(start + half, run[half:])]]
            continue
        student.generated_tokens += sum(len(c.tokens) for row in conts for c in row)
        yield idx, [ids[i] for i in idx], conts, store
