"""Train: fine-tune the student on every approved sample so far (LoRA, or full fine-tuning), from the previous
round's adapter; on several processes through accelerate when compute.processes > 1."""

from __future__ import annotations

import time
from pathlib import Path

from ...states import TRAINABLE
from ...student.checkpoint import check_checkpoint, folder_sha256
from ...student.model import Student
from ...student.training import train_student
from ..context import RoundContext
from .result import PhaseResult


def intact(folder: str, recorded: str | None) -> bool:
    """Whether a finished run's checkpoint is there and is what was published (else the round trains again)."""
    return Path(folder).is_dir() and (recorded is None or folder_sha256(folder) == recorded)


class LossLog:
    """The live loss log of a training run (the Rounds page draws it): every step's loss, written about once a
    second and at the last step, so the store is not written on every step."""

    def __init__(self, store, project_id: int, rnd: int):
        self.store, self.project_id, self.rnd = store, project_id, rnd
        self.pending: list[tuple[int, float]] = []
        self.flushed = time.monotonic()
        store.training_runs.start_losses(project_id, rnd)

    def add(self, step: int, total: int, loss: float) -> None:
        self.pending.append((step, float(loss)))
        if step == total or time.monotonic() - self.flushed > 1.0:
            self.store.training_runs.add_losses(self.project_id, self.rnd, self.pending)
            self.pending, self.flushed = [], time.monotonic()


def run(ctx: RoundContext, rnd: int, again: bool = False) -> PhaseResult:
    """Train on every approved sample so far. A training run this round already finished (a crash before the
    phase was marked done, or a manual `train`) is kept unless `again`."""
    procs, store, project_id = ctx.procs, ctx.store, ctx.project_id
    approved = bool(store.revisions.count(project_id, rnd, TRAINABLE))
    run = store.training_runs.get(project_id, rnd)
    kept = bool(run and not again and run["checkpoint"] and intact(run["checkpoint"], run["checkpoint_sha256"]))
    if ctx.launches() and approved and not kept:
        ctx.launched("train", rnd)
        run = store.training_runs.get(project_id, rnd)
        return PhaseResult.done(f"{run['samples']} samples, {run['steps']} steps, loss {run['final_loss']:.3f} on "
                                f"{ctx.cfg.compute.processes} processes")
    t = ctx.cfg.training
    samples = store.revisions.training_samples(project_id, rnd) if approved and not kept else []
    latest = store.training_runs.latest_checkpoint(project_id, rnd) if t.continue_from_previous else None
    # one plan for every rank, as the main rank read it
    approved, kept, run, samples, latest = procs.share((approved, kept, run, samples, latest))
    if not approved:
        return PhaseResult.done("skipped: no newly approved samples this round, the student stays as it was")
    if kept:
        return PhaseResult.done(f"{run['samples']} samples, {run['steps']} steps, loss {run['final_loss']:.3f} (kept)")
    base = ctx.cfg.student
    prev = latest[0] if latest and latest[1] == t.method else None
    if prev:  # continue only from a checkpoint that was written whole
        check_checkpoint(prev, latest[2], f"round {latest[3]}'s student")
    # A fresh load: training mutates the weights, so the cached inference handle is never reused.
    ctx.release_student()
    if t.method == "lora":
        student = Student.load(ctx.base_path, device=ctx.device, dtype=base.dtype)
        init = prev or base.adapter or None
    else:  # full fine-tuning keeps fp32 master weights; bf16 autocast still speeds it up on CUDA
        student = Student.load(prev or ctx.base_path, device=ctx.device, dtype="float32")
        init = None
    out = ctx.round_dir(rnd) / ("adapter" if t.method == "lora" else "model")
    style = ctx.style(student.tokenizer)

    log = LossLog(store, project_id, rnd) if procs.is_main else None

    def on_step(step: int, total: int, loss: float) -> None:
        if log is not None:
            log.add(step, total, loss)
            ctx.progress("train", step, total)
        if procs.world == 1:  # a launched group stops together, between phases
            ctx.check_cancel()

    result = train_student(student, style.prompts(student.tokenizer, [ctx.task.student_text(e) for e, _ in samples]),
                           [txt for _, txt in samples], t, out, init_adapter=init, seed=ctx.cfg.rounds.seed + rnd,
                           processes=procs, prompt_style=style, on_step=on_step, publish=store.transaction)
    if procs.is_main:  # the one writer: every rank has the same losses (reduced over ranks)
        store.training_runs.save(project_id, rnd, method=t.method, samples=len(samples), steps=result.steps,
                                 tokens=result.tokens, seconds=result.seconds, final_loss=result.final_loss,
                                 losses=result.losses, checkpoint=str(out), checkpoint_sha256=folder_sha256(out),
                                 base_model=ctx.base_model, dtype=str(student.model.dtype).removeprefix("torch."))
    procs.barrier()
    left_out = (f"; {result.left_out} sample(s) left out: their explanation starts past training.max_length = "
                f"{t.max_length}" if result.left_out else "")
    return PhaseResult.done(f"{len(samples)} samples, {result.steps} steps, loss {result.final_loss:.3f}"
                            + (f" on {procs.world} processes" if procs.world > 1 else "") + left_out, result.tokens)
