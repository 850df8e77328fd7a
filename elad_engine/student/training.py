"""Fine-tune the student on approved explanations: LoRA through peft (default) or full fine-tuning.

The loss covers the explanation tokens only (the prompt is masked). Entry point: `train_student`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import TrainingConfig
from ..errors import StudentError
from .batching import IGNORE, pad_right
from .model import quiet_transformers

quiet_transformers()


@dataclass
class TrainResult:
    steps: int
    tokens: int  # real (non-padding) tokens seen
    seconds: float
    losses: list[float] = field(default_factory=list)  # per optimiser step

    @property
    def final_loss(self) -> float | None:
        tail = self.losses[-max(1, len(self.losses) // 10):]
        return sum(tail) / len(tail) if tail else None


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


def bf16_native(device: torch.device) -> bool:
    """Whether bfloat16 autocast is fast here: a CUDA card with bf16, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or
                    getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def _backward(model, batch: dict, params: list, use_bf16: bool, acc, share: float, world: int) -> float:
    """One batch's forward and backward pass (gradients clipped to norm 1); returns the batch's mean loss. In a
    launched group this rank's loss is weighted by its share of the batch's loss tokens."""
    device = batch["input_ids"].device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        out = model(**batch)
        loss = out.loss if "labels" in batch else out.logits.float().sum() * 0.0
    if acc is None:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        return float(loss.detach())
    acc.backward(loss * share * world)  # DDP averages over ranks: sum of share-weighted means
    acc.clip_grad_norm_(params, 1.0)
    return float(acc.reduce(loss.detach() * share, "sum"))  # the batch's loss, the same on every rank


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


def fit(model, tokenizer, prompts: list[str], completions: list[str], *, learning_rate: float, epochs: int,
        batch_size: int, max_length: int, seed: int = 0, batching: str = "grouped", precision: str = "auto",
        on_step: Callable[[int, int, float], None] | None = None, processes=None) -> TrainResult:
    """Train `model` in place with AdamW and a linear decay; returns the loss curve.

    batching: "padded" (shuffled batches padded to their longest sample: the baseline), "grouped"
    (batches of similar lengths) or "packed" (grouped, then several samples per row). Every optimiser
    step sees `batch_size` samples in all three, so the recipe is the same and only the speed differs.
    precision: "auto" (bfloat16 autocast where the hardware has it natively, else float32), "bf16", "fp32".
    processes: a launched group (distributed.Processes) to train data-parallel through accelerate. Every rank
    builds the same batches (same seed) and takes its share of each; its mean loss is weighted by its share of
    the batch's loss tokens, so the synchronised gradient is that of the whole batch's mean loss, as in one
    process, and the recipe does not change with the number of processes.
    """
    if batching not in BATCHING:
        raise StudentError(f"batching must be one of {', '.join(BATCHING)}, not {batching!r}")
    if not prompts:
        raise StudentError("No training samples: approve at least one revision before training.")
    device = next(model.parameters()).device
    encoded = encode_pairs(tokenizer, prompts, completions, max_length)
    lengths = [len(x) for x, _ in encoded]
    loss_tokens = [sum(t != IGNORE for t in y[1:]) for _, y in encoded]  # the tokens the shifted loss counts
    rng = random.Random(seed)
    torch.manual_seed(seed)
    total = math.ceil(len(encoded) / batch_size) * epochs
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    warm = max(1, total // 20)  # a short linear warm-up, then linear decay to 5% of the peak
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.05, 1 - s / total))
    use_bf16 = precision == "bf16" or (precision == "auto" and bf16_native(device))
    world, rank, acc = 1, 0, None
    if processes is not None and processes.world > 1:
        world, rank = processes.world, processes.rank
        acc, (model, opt, sched) = _distributed(processes, model, opt, sched, batch_size, seed)
    model.train()
    result = TrainResult(steps=0, tokens=0, seconds=0.0)
    t0, make = time.perf_counter(), collate_packed if batching == "packed" else collate
    for _ in range(epochs):
        for idx in length_grouped_batches(lengths, batch_size, rng, 1 if batching == "padded" else 50):
            mine = idx[rank::world]
            share = sum(loss_tokens[i] for i in mine) / max(1, sum(loss_tokens[i] for i in idx))
            # a rank with no sample (a short last batch) or no loss token still steps at weight 0: the
            # collectives need every rank, and a mean over no token would be NaN on every rank after all-reduce
            batch = make(encoded, mine or idx[:1], tokenizer.pad_token_id, device)
            if acc is not None and share == 0:
                batch.pop("labels")
            loss = _backward(model, batch, params, use_bf16, acc, share, world)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            result.steps += 1
            result.tokens += sum(len(encoded[i][0]) for i in idx)
            result.losses.append(loss)
            if on_step:
                on_step(result.steps, total, result.losses[-1])
    if acc is not None:
        acc.wait_for_everyone()
    model.eval()
    result.seconds = time.perf_counter() - t0
    return result


def train_student(student, prompts: list[str], completions: list[str], cfg: TrainingConfig, out_dir: Path,
                  init_adapter: str | None = None, seed: int = 0,
                  on_step: Callable[[int, int, float], None] | None = None, processes=None) -> TrainResult:
    """Fine-tune a loaded base `Student` (see student.py) and save the result to `out_dir`.

    LoRA: wraps the base model in a fresh adapter (or `init_adapter`, to continue the previous round)
    and saves only the adapter. Full: trains every weight and saves a whole model folder. In a launched group
    (`processes`) every rank trains its share and only the main rank writes the checkpoint.
    """
    from peft import LoraConfig, PeftModel, get_peft_model

    out_dir = Path(out_dir)
    model = student.model
    torch.manual_seed(seed)  # LoRA's initial weights come from the global RNG: same seed, same adapter
    if cfg.method == "lora":
        if init_adapter:
            model = PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
        else:
            targets = cfg.target_modules if cfg.target_modules == "all-linear" else [
                t.strip() for t in cfg.target_modules.split(",") if t.strip()]
            lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                              target_modules=targets, task_type="CAUSAL_LM")
            try:
                model = get_peft_model(model, lora)
            except ValueError as e:
                raise StudentError(f"training.target_modules = {cfg.target_modules!r} does not fit the "
                                   f"student: {e}") from None
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    result = fit(model, student.tokenizer, prompts, completions, learning_rate=cfg.learning_rate,
                 epochs=cfg.epochs, batch_size=cfg.batch_size, max_length=cfg.max_length, seed=seed,
                 batching=cfg.batching, precision=cfg.precision, on_step=on_step, processes=processes)
    if processes is not None and not processes.is_main:
        processes.barrier()  # wait until the main rank has written the checkpoint
        return result
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    if cfg.method == "full":
        student.tokenizer.save_pretrained(tmp)
    if out_dir.exists():
        import shutil
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)  # atomic: a crash never leaves a half-written checkpoint under the final name
    if processes is not None:
        processes.barrier()
    return result
