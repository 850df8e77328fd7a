"""`score` and `train` as ranks of `accelerate launch`: the round loop launches `python -m elad_engine score|train`
when compute.processes > 1, and a user may launch them by hand. Each rank does its share of the round's explain and
score phases, or of its training; only the main rank writes to the store."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import EladError
from ..store import Store
from ..store.database import FENCE_ENV
from ..student.distributed import exit_with_launcher
from .loop import RoundRunner
from .phases import explain, score, train

COMMANDS = ("score", "train")


def run_launched_command(store: Store, project_id: int, rnd: int, command: str,
                         progress: Callable[[str, int, int], None] | None = None) -> str:
    """This rank's part of `command` for round `rnd`; returns what it did (on the main rank; "" on the others)."""
    if command not in COMMANDS:
        raise EladError(f"{command!r} is not a launched command; use one of {', '.join(COMMANDS)}")
    exit_with_launcher()  # no orphaned rank may keep writing after its worker died
    if os.environ.get(FENCE_ENV):  # launched by a job: this rank writes under that job's lease
        job_id, lease = os.environ[FENCE_ENV].split(":")
        store.database.fence = (int(job_id), int(lease))
    runner = RoundRunner(store, project_id, launch=False)
    nxt = runner.next_round()
    if rnd != nxt:
        raise EladError(f"--round {rnd}: project {store.projects.name_of(project_id)!r} is at round {nxt}; finished "
                        "rounds are never redone and later ones need this one first")
    if command == "score" and nxt == 0:
        raise EladError("--round 0 is the warm-up: its samples are drawn at random, so there is no pool to score")
    ctx = runner.context
    if ctx.procs.is_main:
        if progress is not None:
            ctx.progress = progress
        store.rounds.start(project_id, rnd)
    ctx.procs.barrier()
    if command == "train":
        detail = train.run(ctx, rnd, again=True).detail
        return detail if ctx.procs.is_main else ""
    detail = explain.run(ctx, rnd).detail
    if ctx.procs.is_main:
        detail += "; " + score.run(ctx, rnd).detail
    ctx.procs.barrier()
    return detail if ctx.procs.is_main else ""
