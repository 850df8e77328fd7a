"""Step probes by KV-cache branching: one forward pass per explanation, then the answer trigger is decoded
on a branch of that cache at every step boundary, batched across boundaries and explanations.

Token ids are built segment by segment (prompt, each step line, the trigger), so the branched result is
the naive one (each prefix re-encoded from scratch: `naive_token_ids` + generate) token for token.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from ..method.reasoning import ANSWER_TRIGGER, short_answer
from .batching import pad_right


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


def _prefill(model, rows: list[list[int]], pad_id: int, device) -> DynamicCache:
    """One right-padded forward pass; keys and values at real positions are those of each row alone."""
    with torch.no_grad():
        out = model(**pad_right(rows, pad_id, device=device), use_cache=True)
    return out.cache


def _branch(cache: DynamicCache, owners: list[int], lengths: list[int]) -> tuple[DynamicCache, torch.Tensor]:
    """A new cache with one row per probe: row r holds the first lengths[r] positions of explanation
    owners[r], left-padded to a common width, plus its attention mask."""
    width = max(lengths)
    layers = []
    for layer in cache.layers:
        k, v = layer.keys, layer.values  # [B, heads, L, dim]
        nk = k.new_zeros((len(owners), k.shape[1], width, k.shape[3]))
        nv = v.new_zeros((len(owners), v.shape[1], width, v.shape[3]))
        for r, (e, n) in enumerate(zip(owners, lengths)):
            nk[r, :, width - n:] = k[e, :, :n]
            nv[r, :, width - n:] = v[e, :, :n]
        layers.append((nk, nv))
    mask = torch.zeros((len(owners), width), dtype=torch.long, device=cache.layers[0].keys.device)
    for r, n in enumerate(lengths):
        mask[r, width - n:] = 1
    return DynamicCache(layers), mask


def _step(model, cache, mask, tokens, positions):
    """Feed `tokens` [N, T] at `positions` [N, T] on top of the cache; returns logits and the longer mask."""
    mask = torch.cat([mask, torch.ones_like(tokens)], dim=1)
    with torch.no_grad():
        out = model(input_ids=tokens, attention_mask=mask, position_ids=positions, cache=cache,
                    use_cache=True)
    return out.logits, mask


def _branched_batches(student, items: list[tuple[str, list[str]]], batch_size: int):
    """Group explanations by length (batch_size counts probe rows), prefill each group once, and yield
    (explanation indices, owner of each probe row, prefix length of each row, branched cache, its mask)."""
    tok = student.tokenizer
    enc = [segments(tok, p, s) for p, s in items]
    order = sorted(range(len(items)), key=lambda i: len(enc[i][0]))
    groups, batch, rows = [], [], 0
    for i in order:
        batch.append(i)
        rows += len(enc[i][1])
        if rows >= batch_size:
            groups.append(batch)
            batch, rows = [], 0
    groups += [batch] if batch else []
    for idx in groups:
        cache = _prefill(student.model, [enc[j][0] for j in idx], tok.pad_token_id, student.device)
        owners = [e for e, j in enumerate(idx) for _ in enc[j][1]]
        lengths = [n for j in idx for n in enc[j][1]]
        branch, mask = _branch(cache, owners, lengths)
        yield idx, owners, lengths, branch, mask


def branched_probe_answers(student, items: list[tuple[str, list[str]]], max_new_tokens: int = 8,
                           batch_size: int = 256) -> list[list[str]]:
    """For each (prompt, steps): the greedy short answers â_0..â_K after each step boundary."""
    tok, model, dev = student.tokenizer, student.model, student.device
    trigger = tok(ANSWER_TRIGGER, add_special_tokens=False)["input_ids"]
    out: list[list[str]] = [[] for _ in items]
    for idx, owners, lengths, branch, mask in _branched_batches(student, items, batch_size):
        n = len(owners)
        pos = torch.tensor(lengths, device=dev)[:, None] + torch.arange(len(trigger), device=dev)[None, :]
        tokens = torch.tensor([trigger] * n, device=dev)
        logits, mask = _step(model, branch, mask, tokens, pos)
        pos = pos[:, -1:]
        generated = torch.full((n, max_new_tokens), tok.pad_token_id, dtype=torch.long, device=dev)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        for t in range(max_new_tokens):
            nxt = logits[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, tok.pad_token_id), nxt)
            generated[:, t] = nxt
            done |= nxt == tok.eos_token_id
            if bool(done.all()) or t == max_new_tokens - 1:
                break
            pos = pos + 1
            logits, mask = _step(model, branch, mask, nxt[:, None], pos)
        texts = tok.batch_decode(generated.tolist(), skip_special_tokens=True)
        for r, e in enumerate(owners):
            out[idx[e]].append(short_answer(texts[r]))
    return out


def branched_answer_probs(student, items: list[tuple[str, list[str]]], answers: list[str],
                          batch_size: int = 256) -> list[list[float]]:
    """For each (prompt, steps) and its final answer â_K: p_k = P(` â_K.` | prefix k + trigger), k = 0..K,
    all boundaries teacher-forced in one batched pass on branches of the explanation's cache."""
    tok, model, dev = student.tokenizer, student.model, student.device
    trigger = tok(ANSWER_TRIGGER, add_special_tokens=False)["input_ids"]
    out: list[list[float]] = [[] for _ in items]
    for idx, owners, lengths, branch, mask in _branched_batches(student, items, batch_size):
        targets = [tok(f" {answers[idx[e]]}.", add_special_tokens=False)["input_ids"] for e in owners]
        width = len(trigger) + max(len(t) for t in targets)
        tokens = torch.full((len(owners), width), tok.pad_token_id, dtype=torch.long)
        for r, t in enumerate(targets):
            tokens[r, :len(trigger) + len(t)] = torch.tensor(trigger + t)
        pos = torch.tensor(lengths)[:, None] + torch.arange(width)[None, :]
        # Right padding after the target only pads positions no real token attends to.
        logits, _ = _step(model, branch, mask, tokens.to(dev), pos.to(dev))
        for r, t in enumerate(targets):
            rows = logits[r, len(trigger) - 1:len(trigger) - 1 + len(t)].float()
            logp = torch.log_softmax(rows, dim=-1)[torch.arange(len(t)), torch.tensor(t, device=dev)]
            out[idx[owners[r]]].append(float(logp.sum().exp()))
    return out
