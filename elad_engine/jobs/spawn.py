"""Starting a worker process for a workspace when none is alive: the web app calls `ensure_worker` on its script
runs, so a queued job always finds a worker; a worker the app started leaves after IDLE_EXIT_S without work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..store import Store

HEARTBEAT_S = 2.0  # how often a worker says it is alive
STALE_S = 15.0  # a worker (or a running job) silent this long is presumed dead
IDLE_EXIT_S = 300.0  # a worker the app started leaves after this long without work; the app starts another


def ensure_worker(workspace: str | Path) -> int | None:
    """Start a detached worker process for the workspace unless one is alive; returns its OS pid, or None."""
    store = Store(workspace)
    try:
        if store.workers.live(STALE_S):
            return None
    finally:
        store.close()
    log = Path(workspace) / "worker.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "elad_engine", "worker", "--workspace",
                                 str(Path(workspace).resolve()), "--idle-exit", str(IDLE_EXIT_S)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid
