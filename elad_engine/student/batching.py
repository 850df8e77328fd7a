"""Batches of token rows: the one padded-batch builder (`pad_right`: right-padded tensors with their attention mask,
and labels padded with -100) that teacher-forced statistics, the probes' prefill and training all use; the prefix a
batch's rows share (a chat template's system turn and few-shot exemplars), which decoding and training run once; and
how training turns (prompt, explanation) pairs into batches: length-grouped, packed, split into micro-batches that
fit a token budget, and cut after their shared prefix."""

from __future__ import annotations

import os
import random

import torch

IGNORE = -100  # the label of a position no loss is taken on
SHARED_PREFIX_MIN = 32  # rows that share a prefix at least this long run it once, not once per row


def shared_prefix(rows: list[list[int]]) -> int:
    """Tokens every row starts with, each row keeping at least one of its own (its next-token logits)."""
    if len(rows) < 2:
        return 0
    return min(len(os.path.commonprefix(rows)), min(map(len, rows)) - 1)


def pad_right(rows: list[list[int]], pad_id: int, labels: list[list[int]] | None = None,
              device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """{'input_ids', 'attention_mask'[, 'labels']} of shape [len(rows), longest row], on `device`."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if labels is not None:
        lab = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for i, y in enumerate(labels):
            lab[i, :len(y)] = torch.tensor(y, dtype=torch.long)
        out["labels"] = lab
    return {k: v.to(device) for k, v in out.items()} if device is not None else out


def encode_pairs(tokenizer, prompts: list[str], completions: list[str], max_length: int):
    """Token ids and labels (-100 on the prompt) for each (prompt, completion); completion ends in EOS."""
    out = []
    for p, c in zip(prompts, completions):
        p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(c, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (p_ids + c_ids)[:max_length]
        labels = ([IGNORE] * len(p_ids) + c_ids)[:max_length]
        out.append((ids, labels))
    return out


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random,
                           window_batches: int = 50) -> list[list[int]]:
    """Shuffle, then sort by length inside windows of 50 batches, so batches carry little padding.
    window_batches=1 gives plain shuffled batches (the padded baseline)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * window_batches
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(encoded, idx: list[int], pad_id: int, device) -> dict[str, torch.Tensor]:
    """The samples `idx` padded to the longest of them (labels -100 on the padding)."""
    return pad_right([encoded[i][0] for i in idx], pad_id, labels=[encoded[i][1] for i in idx], device=device)


def collate_after_prefix(encoded, idx: list[int], pad_id: int, device) -> dict[str, torch.Tensor]:
    """`collate`, with the prompt prefix the samples share (SHARED_PREFIX_MIN tokens or more) cut off as
    'prefix_ids' [1, P], to run once for the batch: the rows then start after it. The prefix ends before the last
    position whose logits any label needs (the loss at a row's first label reads the position before it)."""
    rows, labels = [encoded[i][0] for i in idx], [encoded[i][1] for i in idx]
    first = min(next((t for t, y in enumerate(ys) if y != IGNORE), len(ys)) for ys in labels)
    shared = min(shared_prefix(rows), first - 1)
    if shared < SHARED_PREFIX_MIN:
        return collate(encoded, idx, pad_id, device)
    batch = pad_right([r[shared:] for r in rows], pad_id, labels=[y[shared:] for y in labels], device=device)
    batch["prefix_ids"] = torch.tensor([rows[0][:shared]], dtype=torch.long, device=device)
    return batch


def collate_packed(encoded, idx: list[int], pad_id: int, device) -> dict[str, torch.Tensor]:
    """Pack the batch's samples into as few rows as fit the longest one (first fit, longest first).

    No attention mask is passed: position ids restart at 0 for every sample, and transformers builds a
    block-diagonal causal mask from them, so no token attends across samples. The token after each
    sample's EOS is the next sample's first prompt token, whose label is -100, so no loss crosses a
    boundary either. Tail padding forms its own block with -100 labels.
    """
    width = max(len(encoded[i][0]) for i in idx)
    rows: list[list[int]] = []
    fill: list[int] = []
    for i in sorted(idx, key=lambda i: -len(encoded[i][0])):
        n = len(encoded[i][0])
        for r, used in enumerate(fill):
            if used + n <= width:
                rows[r].append(i)
                fill[r] += n
                break
        else:
            rows.append([i])
            fill.append(n)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    for r, members in enumerate(rows):
        at = 0
        for i in members:
            x, y = encoded[i]
            ids[r, at:at + len(x)] = torch.tensor(x)
            labels[r, at:at + len(y)] = torch.tensor(y)
            pos[r, at:at + len(x)] = torch.arange(len(x))
            at += len(x)
        pos[r, at:] = torch.arange(width - at)
    return {"input_ids": ids.to(device), "labels": labels.to(device), "position_ids": pos.to(device),
            "use_cache": False}


BATCHING = ("padded", "grouped", "packed")


def micro_batches(shares: list[list[int]], lengths: list[int], budget: int) -> list[list[list[int]]]:
    """Split each share of one batch (one per process) into the same number of micro-batches, each at most `budget`
    tokens (rows x longest row; always at least one row): plan[m][rank] is micro-batch m of that rank's share, and
    may be empty. One number of micro-batches for every rank, so every rank runs as many backward passes."""
    def cut(share: list[int]) -> list[list[int]]:
        groups, group = [], []
        for i in sorted(share, key=lambda i: lengths[i]):
            if group and budget and (len(group) + 1) * max(lengths[j] for j in group + [i]) > budget:
                groups.append(group)
                group = []
            group.append(i)
        return groups + ([group] if group else [])

    cuts = [cut(share) for share in shares]
    n = max(1, max(len(c) for c in cuts))
    return [[c[m] if m < len(c) else [] for c in cuts] for m in range(n)]
