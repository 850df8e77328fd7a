"""Fine-tune the student on approved explanations: LoRA through peft (default) or full fine-tuning.

The loss covers the explanation tokens only (the prompt is masked). Entry point: `train_student`.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import TrainingConfig
from ..errors import StudentError
from . import kv_cache
from .batching import (
    BATCHING,
    IGNORE,
    collate,
    collate_after_prefix,
    collate_packed,
    encode_pairs,
    length_grouped_batches,
    micro_batches,
)
from .hardware import native_bf16
from .model import seeded


@dataclass
class TrainResult:
    steps: int
    tokens: int  # real (non-padding) tokens seen
    seconds: float
    losses: list[float] = field(default_factory=list)  # per optimiser step
    left_out: int = 0  # samples whose explanation starts past max_length: nothing of them to learn

    @property
    def final_loss(self) -> float | None:
        tail = self.losses[-max(1, len(self.losses) // 10):]
        return sum(tail) / len(tail) if tail else None


LORA_TARGETS = {  # the attention and MLP projections, by transformers model_type
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
}


def lora_targets(model, setting: str) -> list[str] | str:
    """The modules that get adapters: by architecture for `auto` (all-linear for one not in LORA_TARGETS)."""
    if setting == "auto":
        return LORA_TARGETS.get(getattr(model.config, "model_type", ""), "all-linear")
    return setting if setting == "all-linear" else [t.strip() for t in setting.split(",") if t.strip()]


def token_loss_sum(model, batch: dict, use_bf16: bool) -> torch.Tensor:
    """The summed next-token loss over the batch's labelled positions. Logits are computed only from the first
    labelled position on (`logits_to_keep`), so the prompt's full-vocabulary logits are never materialised.

    A batch with 'prefix_ids' (`collate_after_prefix`) runs that shared prefix once, on one row, and its rows after
    it, attending to its keys and values expanded to every row: the loss and the gradients are those of the whole
    rows (the expansion's backward sums the rows' gradients into the one prefix), for one prefix's compute instead
    of one per row."""
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "prefix_ids")} | {"use_cache": False}
    labelled = (labels != IGNORE).any(0)
    first = max(1, int(labelled.float().argmax())) if bool(labelled.any()) else labels.shape[1] - 1
    keep = labels.shape[1] - first + 1  # logits at positions first-1 .. end predict labels first .. end
    device = labels.device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        if "prefix_ids" in batch:
            with _checkpointed_with_cache(model):  # both passes: the prefix's and the rows'
                inputs |= _after_prefix(model, batch["prefix_ids"], inputs["attention_mask"])
                logits = model(**inputs, logits_to_keep=keep).logits[:, :-1]
            if not kv_cache.prefix_was_read(inputs["cache"]):  # the rows never saw the prefix: a wrong loss
                raise StudentError(PREFIX_UNSEEN)
        else:
            logits = model(**inputs, logits_to_keep=keep).logits[:, :-1]
    targets = labels[:, first:]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                                             ignore_index=IGNORE, reduction="sum")


PREFIX_UNSEEN = ("Training with a shared prefix: the model's layers did not use the cache of the prefix's keys and "
                 "values (a transformers version that drops it?); set training.share_prefix = false.")


def _after_prefix(model, prefix: torch.Tensor, mask: torch.Tensor) -> dict:
    """The model inputs that put a batch's rows after `prefix` [1, P]: a cache of the prefix's keys and values
    (computed with gradients) seen by every row, and the attention mask over prefix and rows. Under checkpointing the
    caller runs it inside `_checkpointed_with_cache`."""
    cache = kv_cache.shared_prefix_cache(model, prefix, mask.shape[0])
    if cache is None:
        raise StudentError(PREFIX_UNSEEN)
    ones = torch.ones((mask.shape[0], prefix.shape[1]), dtype=mask.dtype, device=mask.device)
    return {"cache": cache, "use_cache": True, "attention_mask": torch.cat([ones, mask], dim=1)}


def _drops_out(model) -> bool:
    """Whether training draws dropout masks anywhere (a GPT-2's residual and attention dropout, LoRA's): rows that
    share one run of their prefix would share its masks too, which is not the whole rows' training."""
    return any((isinstance(m, torch.nn.Dropout) and m.p > 0) or float(getattr(m, "attention_dropout", 0) or 0) > 0
               for m in model.modules())


def _prefix_survives_checkpointing(model) -> bool:
    """Whether the model, with checkpointing on, lets its layers attend to a shared prefix's cache (a Llama's do
    through `_can_checkpoint_with_cache`; a GPT-2 drops every cache under checkpointing in its own forward): a
    1-token prefix and a 1-token row, with gradients, nothing kept."""
    ids = torch.zeros((1, 2), dtype=torch.long, device=next(model.parameters()).device)
    with torch.enable_grad(), _checkpointed_with_cache(model):
        cache = kv_cache.shared_prefix_cache(model, ids[:, :1], 1)
        if cache is None:
            return False
        model(input_ids=ids[:, 1:], cache=cache, use_cache=True, attention_mask=torch.ones_like(ids), logits_to_keep=1)
    return kv_cache.prefix_was_read(cache)


@contextlib.contextmanager
def _checkpointed_with_cache(model):
    """Let checkpointed layers keep the cache they are given. transformers drops it under gradient checkpointing,
    because a replay would write it twice, unless a layer says it may keep it (`_can_checkpoint_with_cache`, which
    its comment offers to layers that only read the cache). The training prefix's caches are safe to replay: their
    writes replace or are not kept (kv_cache._RecordingLayer, _PrefixLayer)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    for layer in layers:
        layer._can_checkpoint_with_cache = True
    try:
        yield
    finally:
        for layer in layers:
            del layer._can_checkpoint_with_cache


def _batch_backward(model, tokenizer, encoded, idx: list[int], loss_tokens: list[int], make, budget: int,
                    use_bf16: bool, device, world: int, rank: int, acc) -> float:
    """Forward and backward passes over one optimiser batch, split into micro-batches of at most `budget` tokens with
    the gradients accumulated; returns the batch's mean loss per label token. In a launched group each rank takes its
    share of the batch, and its summed loss over the whole batch's label tokens gives exactly one process's
    gradient (DDP averages over ranks, so it is scaled by the world size)."""
    total = max(1, sum(loss_tokens[i] for i in idx))
    plan = micro_batches([idx[r::world] for r in range(world)], [len(x) for x, _ in encoded], budget)
    loss = torch.zeros((), device=device)
    for micro in plan:
        mine = micro[rank]
        # a rank with no sample in this micro-batch still runs it at weight 0: the collectives need every rank
        batch = make(encoded, mine or idx[:1], tokenizer.pad_token_id, device)
        part = token_loss_sum(model, batch, use_bf16) / total * (1.0 if mine else 0.0)
        if acc is None:
            part.backward()
        else:
            acc.backward(part * world)
        loss = loss + part.detach()
    return float(loss if acc is None else acc.reduce(loss, "sum"))


def _distributed(processes, model, opt, sched, batch_size: int, seed: int):
    """(accelerator, (model, optimiser, scheduler)) prepared for data-parallel training in a launched group."""
    acc = processes.accelerator()
    deepspeed = getattr(acc.state, "deepspeed_plugin", None)
    if deepspeed is not None:  # no dataloader goes through prepare, so DeepSpeed is told the micro batch
        ds = deepspeed.deepspeed_config
        if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
            ds["train_micro_batch_size_per_gpu"] = max(1, batch_size // processes.world)
    prepared = acc.prepare(model, opt, sched)  # DDP, or DeepSpeed ZeRO-1/2 from the launch's config
    torch.manual_seed(seed + 7919 * processes.rank)  # each rank its own dropout masks (DDP broadcast rank 0's)
    return acc, prepared


def _step_with_backoff(model, tokenizer, encoded, idx, loss_tokens, make, budget: int, use_bf16: bool, device,
                       world: int, rank: int, acc, opt) -> tuple[float, int]:
    """One optimiser batch's gradients; on out-of-memory (one process only) the micro-batch token budget is halved
    and the batch is redone. Returns (mean loss, the budget that fitted)."""
    while True:
        try:
            return _batch_backward(model, tokenizer, encoded, idx, loss_tokens, make, budget, use_bf16, device,
                                   world, rank, acc), budget
        except torch.OutOfMemoryError:
            longest = max(len(encoded[i][0]) for i in idx)
            if acc is not None or (budget and budget <= longest):
                raise StudentError("One training sample does not fit in the device's memory: lower "
                                   "training.max_length, set training.gradient_checkpointing = true, or use a smaller "
                                   "student." if acc is None else "out of memory in a launched training rank: lower "
                                   "training.micro_batch_tokens (the back-off runs only in one process).") from None
            opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            budget = max(longest, (budget or longest * len(idx)) // 2)


def fit(model, tokenizer, prompts: list[str], completions: list[str], *, seed: int = 0, **options) -> TrainResult:
    """`_fit` with torch's global RNG seeded by `seed` for the run only (dropout masks), restored after."""
    with seeded(seed):
        return _fit(model, tokenizer, prompts, completions, seed=seed, **options)


def _refuse_if_nothing_to_learn(tokenizer, prompts: list[str], loss_tokens: list[int], max_length: int) -> None:
    if not any(loss_tokens):
        longest = max(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
        raise StudentError(f"Every sample's explanation starts past training.max_length = {max_length} tokens (the "
                           f"longest prompt has {longest}): raise training.max_length, or use fewer exemplars.")


def _fit(model, tokenizer, prompts: list[str], completions: list[str], *, learning_rate: float, epochs: int,
        batch_size: int, max_length: int, seed: int = 0, batching: str = "grouped", precision: str = "auto",
        on_step: Callable[[int, int, float], None] | None = None, processes=None, micro_batch_tokens: int = 0,
        gradient_checkpointing: bool = False, share_prefix: bool = True) -> TrainResult:
    """Train `model` in place with AdamW and a linear decay; returns the loss curve.

    batching: "padded" (shuffled batches padded to their longest sample: the baseline), "grouped" (batches of similar
    lengths) or "packed" (grouped, then several samples per row). Every optimiser step sees `batch_size` samples,
    split into micro-batches of at most `micro_batch_tokens` (0: one pass) with gradient accumulation, so the recipe
    stays the same and only speed and memory differ. precision: "auto" (bf16 autocast where native), "bf16", "fp32".
    processes: a launched group (distributed.Processes) to train data-parallel through accelerate; every rank builds
    the same batches (same seed) and takes its share of each (see _batch_backward).
    share_prefix: a micro-batch's shared prompt prefix (the exemplars) runs once where the model allows it.
    """
    if batching not in BATCHING:
        raise StudentError(f"batching must be one of {', '.join(BATCHING)}, not {batching!r}")
    if not prompts:
        raise StudentError("No training samples: approve at least one revision before training.")
    device = next(model.parameters()).device
    encoded = encode_pairs(tokenizer, prompts, completions, max_length)
    lengths = [len(x) for x, _ in encoded]
    loss_tokens = [sum(t != IGNORE for t in y[1:]) for _, y in encoded]  # the tokens the shifted loss counts
    _refuse_if_nothing_to_learn(tokenizer, prompts, loss_tokens, max_length)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    total = math.ceil(len(encoded) / batch_size) * epochs
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    warm = max(1, total // 20)  # a short linear warm-up, then linear decay to 5% of the peak
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.05, 1 - s / total))
    use_bf16 = precision == "bf16" or (precision == "auto" and native_bf16(device))
    world, rank, acc = 1, 0, None
    if processes is not None and processes.world > 1:
        world, rank = processes.world, processes.rank
        acc, (model, opt, sched) = _distributed(processes, model, opt, sched, batch_size, seed)
    _checkpointing(model, gradient_checkpointing)
    model.train()
    result, budget = TrainResult(steps=0, tokens=0, seconds=0.0, left_out=loss_tokens.count(0)), micro_batch_tokens
    make = _batch_maker(model, batching, share_prefix, acc is not None, gradient_checkpointing)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for idx in length_grouped_batches(lengths, batch_size, rng, 1 if batching == "padded" else 50):
            loss, budget = _step_with_backoff(model, tokenizer, encoded, idx, loss_tokens, make, budget, use_bf16,
                                              device, world, rank, acc, opt)
            acc.clip_grad_norm_(params, 1.0) if acc is not None else torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            result.steps += 1
            result.tokens += sum(len(encoded[i][0]) for i in idx)
            result.losses.append(loss)
            if on_step:
                on_step(result.steps, total, loss)
    if acc is not None:
        acc.wait_for_everyone()
    _checkpointing(model, False)
    model.eval()
    result.seconds = time.perf_counter() - t0
    return result


def _batch_maker(model, batching: str, share_prefix: bool, distributed: bool, checkpointing: bool) -> Callable:
    """How a micro-batch's samples become tensors: packed rows, padded rows after the prompt prefix they share
    (`collate_after_prefix`: the prefix runs once, the same loss and gradients), or padded whole rows. The shared
    prefix needs a single process (a launched group would run two forward passes per backward), a cache of plain
    full-attention layers (`kv_cache.supports`), no dropout (`_drops_out`), and, under checkpointing, a model that
    keeps the cache (`_prefix_survives_checkpointing`)."""
    if batching == "packed":
        return collate_packed
    if share_prefix and not distributed and kv_cache.supports(model) and not _drops_out(model) and (
            not checkpointing or _prefix_survives_checkpointing(model)):
        return collate_after_prefix
    return collate


def _checkpointing(model, on: bool) -> None:
    """Activation (gradient) checkpointing on or off; non-reentrant, so LoRA's frozen inputs need no gradient."""
    inner = getattr(model, "module", model)  # under DDP
    if on:
        inner.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    elif getattr(inner, "is_activation_checkpointing", False):
        inner.activation_checkpointing_disable()


def _remove_dead_tmp(out_dir: Path) -> None:
    """Half-written checkpoint folders of processes that died (killed while saving) next to `out_dir`."""
    import shutil

    for tmp in out_dir.parent.glob(f"{out_dir.name}.tmp-*"):
        try:
            os.kill(int(tmp.name.rsplit("-", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


def _with_adapter(model, cfg: TrainingConfig, init_adapter: str | None):
    """LoRA: the base wrapped in a fresh adapter (or `init_adapter`, to continue the previous round); full: every
    weight trainable."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if cfg.method != "lora":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if init_adapter:
        return PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=lora_targets(model, cfg.target_modules), task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, lora)
    except ValueError as e:
        raise StudentError(f"training.target_modules = {cfg.target_modules!r} does not fit the student: {e}") from None


def train_student(student, prompts: list[str], completions: list[str], cfg: TrainingConfig, out_dir: Path,
                  init_adapter: str | None = None, seed: int = 0,
                  on_step: Callable[[int, int, float], None] | None = None, processes=None,
                  prompt_style=None, publish: Callable[[], contextlib.AbstractContextManager] | None = None
                  ) -> TrainResult:
    """Fine-tune a loaded base `Student` (see model.py) and save the result to `out_dir`.

    LoRA: wraps the base model in a fresh adapter (or `init_adapter`, to continue the previous round)
    and saves only the adapter. Full: trains every weight and saves a whole model folder. The prompt style the
    prompts were rendered in is saved beside the weights (prompt_style.json). In a launched group (`processes`)
    every rank trains its share and only the main rank writes the checkpoint.
    """
    out_dir = Path(out_dir)
    with seeded(seed):  # LoRA's initial weights come from the global RNG: same seed, same adapter
        model = _with_adapter(student.model, cfg, init_adapter)
    result = fit(model, student.tokenizer, prompts, completions, learning_rate=cfg.learning_rate,
                 epochs=cfg.epochs, batch_size=cfg.batch_size, max_length=cfg.max_length, seed=seed,
                 batching=cfg.batching, precision=cfg.precision, on_step=on_step, processes=processes,
                 micro_batch_tokens=cfg.micro_batch_tokens, gradient_checkpointing=cfg.gradient_checkpointing,
                 share_prefix=cfg.share_prefix)
    if processes is not None and not processes.is_main:
        processes.barrier()  # wait until the main rank has written the checkpoint
        return result
    tmp = out_dir.with_name(f"{out_dir.name}.tmp-{os.getpid()}")  # this process's own: a stalled worker and the
    try:                                                           # one that took over never share a folder
        tmp.mkdir(parents=True, exist_ok=True)
        # LoRA never targets the embeddings: saving them is off, so peft does not ask the hub whether the base
        # model's vocabulary changed (a network call for a student named by its hub id)
        model.save_pretrained(tmp, **({"save_embedding_layers": False} if cfg.method == "lora" else {}))
        if cfg.method == "full":
            student.tokenizer.save_pretrained(tmp)
        if prompt_style is not None:
            prompt_style.save(tmp)
    except Exception as e:  # OSError, or safetensors' own error around EFBIG / ENOSPC: the checkpoint is not whole
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        raise StudentError(f"could not write the checkpoint {out_dir} ({type(e).__name__}: {e}): is the disk "
                           "full, or a file size limit reached? Nothing of it was kept; free some space and "
                           "resume.") from None
    with (publish or contextlib.nullcontext)():  # e.g. the job's fenced transaction: a worker that lost its lease
        if out_dir.exists():                    # never replaces the checkpoint of the worker that holds it now
            import shutil
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)  # atomic: a crash never leaves a half-written checkpoint under the final name
    _remove_dead_tmp(out_dir)
    if processes is not None:
        processes.barrier()
    return result
