"""A worker's heartbeat: a thread with its own database connection that says the worker is alive and renews the
lease of the job it runs. Every failure is logged and retried (a database locked past the busy timeout, an I/O
error); when the lease could not be renewed before it ran out, or another worker holds the job now, `lost` is set
and the job stops at its next safe point. Its writes are refused anyway once the job has a new lease (fencing,
store/database.py), so a stalled worker can never write twice over a round."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ..store import Store
from .spawn import HEARTBEAT_S

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, workspace: str | Path, worker_pid: int, lease_s: float):
        self.workspace, self.worker_pid, self.lease_s = workspace, worker_pid, lease_s
        self.every_s = min(HEARTBEAT_S, lease_s / 3)  # several chances to renew before the lease runs out
        self.held: tuple[int, int] | None = None  # (job id, lease) of the job being run
        self.lost = threading.Event()
        self.failures = 0
        self._renewed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="elad-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def hold(self, job_id: int, lease: int) -> None:
        self.lost.clear()
        self._renewed = time.monotonic()
        self.held = (job_id, lease)

    def release(self) -> None:
        self.held = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        store = None
        while not self._stop.wait(self.every_s):
            held = self.held
            try:
                if store is None:  # a short busy timeout: a stalled database shows here as a failure, not a hang
                    store = Store(self.workspace, busy_timeout_s=self.every_s)
                renewed = store.workers.beat(self.worker_pid, held, self.lease_s)
                if held is not None and held == self.held:
                    if renewed:
                        self._renewed = time.monotonic()
                    elif not self.lost.is_set():
                        log.error("job %s: another worker holds it now (lease %s is gone); stopping it", *held)
                        self.lost.set()
            except Exception as e:  # sqlite3.OperationalError, StoreError, OSError: log, reconnect, retry
                self.failures += 1
                log.warning("heartbeat of worker %s failed (%s: %s); retrying in %.1f s", self.worker_pid,
                            type(e).__name__, e, self.every_s)
                if store is not None:
                    store.close()
                store = None
            if (held is not None and held == self.held and not self.lost.is_set()
                    and time.monotonic() - self._renewed > self.lease_s):
                log.error("job %s: lease %s not renewed for %.0f s; stopping the job", held[0], held[1],
                          time.monotonic() - self._renewed)
                self.lost.set()
        if store is not None:
            store.close()
