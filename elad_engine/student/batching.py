"""The one padded-batch builder: token rows of different lengths as right-padded tensors with their attention
mask (and labels padded with -100). Teacher-forced statistics, the probes' prefill and training all batch this way."""

from __future__ import annotations

import torch

IGNORE = -100  # the label of a position no loss is taken on


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
