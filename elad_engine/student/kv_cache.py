"""The decode loop's KV cache: Hugging Face's DynamicCache with layers that write into a preallocated buffer (no
concatenation per token), rows that can be dropped and left padding that can be trimmed as rows finish, one row's
keys and values copied out, and many branches of saved rows gathered into a new left-padded batch. And training's:
a shared prefix's keys and values, recorded once and attended to by every row of a batch (`shared_prefix_cache`).

Any model whose own cache is made of full-attention `DynamicLayer`s works (GPT-2, Llama, Qwen2, ...);
`supports(model)` says so, and the explain path falls back to `generate()` elsewhere.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


def supports(model) -> bool:
    """True when the model's own cache would be full-attention dynamic layers (no sliding window, no recurrence)."""
    try:
        cache = DynamicCache(config=model.config)
    except (TypeError, ValueError):
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


def bytes_per_position(model) -> int:
    """Bytes of keys and values one position of one row takes, from the model's config and dtype."""
    cfg = model.config
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return 2 * cfg.num_hidden_layers * kv_heads * head_dim * next(model.parameters()).element_size()


def decode_budget(device: torch.device) -> int:
    """Bytes of keys and values a decode group may hold: a third of the free GPU memory, or 1 GiB elsewhere (where
    it is the largest part of an evaluation's memory: README, "Training memory")."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 3
    return 2**30


class GrowingLayer(DynamicLayer):
    """A DynamicLayer backed by a buffer [rows, heads, capacity, dim] that is filled in place; `keys` and `values`
    are views of the filled part. Capacity doubles when a write would overflow it."""

    def __init__(self, reserve: int = 0):
        super().__init__()
        self.reserve, self.length = reserve, 0
        self.buf_k = self.buf_v = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        b, h, _, d = key_states.shape
        self.device = key_states.device
        self.buf_k = key_states.new_empty((b, h, self.reserve + key_states.shape[-2], d))
        self.buf_v = value_states.new_empty((b, value_states.shape[1], self.buf_k.shape[2], value_states.shape[3]))
        self.is_initialized = True

    def _view(self) -> None:
        self.keys, self.values = self.buf_k[:, :, :self.length], self.buf_v[:, :, :self.length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n, t = self.length, key_states.shape[-2]
        if n + t > self.buf_k.shape[2]:
            self.buf_k, self.buf_v = (_grown(b, max(n + t, 2 * b.shape[2])) for b in (self.buf_k, self.buf_v))
        self.buf_k[:, :, n:n + t] = key_states
        self.buf_v[:, :, n:n + t] = value_states
        self.length = n + t
        self._view()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def adopt(self, buf_k: torch.Tensor, buf_v: torch.Tensor, length: int) -> None:
        """Take ready buffers whose first `length` positions are filled."""
        self.buf_k, self.buf_v, self.length = buf_k, buf_v, length
        self.device, self.is_initialized = buf_k.device, True
        self._view()

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def batch_select_indices(self, indices: torch.Tensor, room: int | None = None) -> None:
        """Keep the rows `indices` in a new buffer with `room` free positions after the filled ones (as many as now
        by default). Only the filled positions are copied, by `index_select`: `buf[indices]` is CPU's element-wise
        gather, several times slower on the [rows, heads, positions, dim] blocks of a decode's first expansion."""
        room = self.buf_k.shape[2] - self.length if room is None else room
        self.buf_k, self.buf_v = (_rows(b, indices, self.length, room) for b in (self.buf_k, self.buf_v))
        self._view()

    def fill_holes(self, dst: torch.Tensor, src: torch.Tensor, rows: int) -> None:
        """Move rows `src` into rows `dst`, then keep the first `rows` (a view): dropping finished rows copies only
        the rows that move, not the whole batch."""
        if len(dst):
            self.buf_k[dst] = self.buf_k[src]
            self.buf_v[dst] = self.buf_v[src]
        self.buf_k, self.buf_v = self.buf_k[:rows], self.buf_v[:rows]
        self._view()

    def trim_left(self, columns: int) -> None:
        """Drop the first `columns` positions (padding that no remaining row attends to); a view, no copy."""
        self.buf_k, self.buf_v = self.buf_k[:, :, columns:], self.buf_v[:, :, columns:]
        self.length -= columns
        self._view()


def _rows(buf: torch.Tensor, indices: torch.Tensor, length: int, room: int) -> torch.Tensor:
    out = buf.new_empty((len(indices), buf.shape[1], length + room, buf.shape[3]))
    out[:, :, :length] = buf[:, :, :length].index_select(0, indices)
    return out


def _grown(buf: torch.Tensor, capacity: int) -> torch.Tensor:
    out = buf.new_empty((buf.shape[0], buf.shape[1], capacity, buf.shape[3]))
    out[:, :, :buf.shape[2]] = buf
    return out


def new_cache(model, reserve: int) -> DynamicCache:
    """An empty cache for `model` whose layers preallocate `reserve` positions beyond the first write."""
    cache = DynamicCache()
    cache.layers = [GrowingLayer(reserve) for _ in range(model.config.num_hidden_layers)]
    cache.layer_class_to_replicate = None
    return cache


def select_rows(cache: DynamicCache, rows: torch.Tensor, room: int | None = None) -> None:
    for layer in cache.layers:
        layer.batch_select_indices(rows, room)


def trim_left(cache: DynamicCache, columns: int) -> None:
    if columns > 0:
        for layer in cache.layers:
            layer.trim_left(columns)


class KVStore:
    """Keys and values of many rows, cut from decode batches as rows finish or taken from a prefill: row i's
    position j sits at column offset[i] + j of layer tensors [rows, columns, heads, dim]. Position-major, so a
    branch's gather copies whole positions (heads x dim contiguous): on a CPU about 3.5x faster than gathering
    from the cache's own [rows, heads, columns, dim] layout (measured in benchmarks/README.md)."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]], offsets: list[int]):
        self.layers, self.offsets = layers, offsets

    @classmethod
    def empty(cls, cache: DynamicCache, rows: int, columns: int) -> KVStore:
        """Room for `rows` rows of up to `columns` positions, for `cache`'s layers."""
        return cls([tuple(t.new_empty((rows, columns, t.shape[1], t.shape[3])) for t in (layer.keys, layer.values))
                    for layer in cache.layers], [0] * rows)

    @classmethod
    def of(cls, cache: DynamicCache, offsets: list[int]) -> KVStore:
        """A copy of a cache's rows, row i starting at column offsets[i] (its left padding)."""
        return cls([tuple(t.transpose(1, 2).contiguous() for t in (layer.keys, layer.values))
                    for layer in cache.layers], offsets)

    def put(self, row: int, cache: DynamicCache, batch_row: int, columns: torch.Tensor | slice) -> None:
        """Copy the batch row's positions, held in `columns` of the cache (a slice past its left padding, or the
        indices of its real columns), into row `row` (from position 0)."""
        for (k, v), layer in zip(self.layers, cache.layers):
            keys = layer.keys[batch_row, :, columns]
            n = keys.shape[1]
            k[row, :n] = keys.transpose(0, 1)
            v[row, :n] = layer.values[batch_row, :, columns].transpose(0, 1)

    @property
    def columns(self) -> int:
        return self.layers[0][0].shape[1]

    def bytes_per_position(self) -> int:
        return sum(t.shape[2] * t.shape[3] * t.element_size() for layer in self.layers for t in layer)


def branches(store: KVStore, rows: list[int], lengths: list[int], reserve: int,
             model) -> tuple[DynamicCache, torch.Tensor]:
    """A new cache with one row per branch: branch r holds the first lengths[r] positions of the store's row
    rows[r], left-padded to a common width (padding columns repeat a real position and are masked), then `reserve`
    free positions; and its attention mask."""
    width = max(lengths)
    cache = new_cache(model, reserve)
    device = store.layers[0][0].device
    if width == 0:
        return cache, torch.zeros((len(rows), 0), dtype=torch.long, device=device)
    lengths_t = torch.tensor(lengths, device=device)
    cols = torch.arange(width + reserve, device=device)[None, :] - (width - lengths_t)[:, None]
    mask = (cols[:, :width] >= 0).long()
    cols = cols.clamp(min=0, max=store.columns - 1)
    cols += torch.tensor([store.offsets[r] for r in rows], device=device)[:, None]
    cols = cols.clamp(max=store.columns - 1)  # the reserve columns only need to exist
    idx = torch.tensor(rows, device=device)[:, None]
    for (k, v), layer in zip(store.layers, cache.layers):
        # One gather per tensor: [rows, cols, heads, dim] indexed by (row, column) pairs -> [branches, width, heads,
        # dim], used through a transposed view (attention reads it as fast as a contiguous copy, measured).
        layer.adopt(k[idx, cols].transpose(1, 2), v[idx, cols].transpose(1, 2), width)
    return cache, mask


class _RecordingLayer(DynamicLayer):
    """Keeps the keys and values a forward pass over a prefix writes. A write replaces the last one, so when a
    checkpointed layer is replayed in the backward pass it writes the same again instead of appending."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        self.keys, self.values, self.is_initialized = key_states, value_states, True
        return key_states, value_states

    def get_seq_length(self) -> int:
        return 0  # the prefix is the first thing written


class _PrefixLayer(DynamicLayer):
    """A prefix's keys and values (a view per row) that each write attends after and none is kept: the rows see the
    prefix and themselves, and a checkpointed replay sees exactly what the forward pass saw."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.keys, self.values, self.is_initialized, self.reads = keys, values, True, 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        self.reads += 1
        return torch.cat([self.keys, key_states], dim=-2), torch.cat([self.values, value_states], dim=-2)


def _cache_of(layers: list[DynamicLayer]) -> DynamicCache:
    cache = DynamicCache()
    cache.layers, cache.layer_class_to_replicate = layers, None
    return cache


def shared_prefix_cache(model, prefix: torch.Tensor, rows: int) -> DynamicCache | None:
    """Run `prefix` [1, P] through `model` (with gradients, when enabled) and return a cache through which `rows`
    rows fed after it attend to its keys and values: the rows' loss then backpropagates into the one prefix run.
    None when the model did not write the prefix's keys and values into the cache it was given."""
    recorder = _cache_of([_RecordingLayer() for _ in range(model.config.num_hidden_layers)])
    model(input_ids=prefix, cache=recorder, use_cache=True, logits_to_keep=1)
    if not all(layer.is_initialized for layer in recorder.layers):
        return None
    return _cache_of([_PrefixLayer(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1))
                      for layer in recorder.layers])


def prefix_was_read(cache: DynamicCache) -> bool:
    """Whether every layer of a `shared_prefix_cache` was attended to since it was made."""
    return all(layer.reads > 0 for layer in cache.layers)
