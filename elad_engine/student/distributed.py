"""Several processes for pool scoring and training, through Hugging Face accelerate (DDP; DeepSpeed ZeRO-1/2 from
an accelerate config file). The round loop launches `python -m elad_engine score|train` with `accelerate launch`
when `compute.processes` > 1; the same two commands also run unchanged under a user's own `accelerate launch`.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from ..config import ComputeConfig
from ..errors import EladError

PROGRESS_ENV = "ELAD_PROGRESS_LINES"  # set by the launching parent: report progress as lines on stdout
PROGRESS_PREFIX = "@elad-progress "
PARENT_ENV = "ELAD_LAUNCHED_BY"  # the launching worker's pid: ranks exit when it is gone
COLLECTIVE_TIMEOUT_H = 6
STOP_GRACE_S = 45  # torchrun gives its ranks 30 s after SIGTERM before it kills them


class Processes:
    """This process's place in its launched group: rank, world size, device, and the collectives the engine
    needs. Outside a launch (no WORLD_SIZE > 1) it is one process and nothing is imported."""

    def __init__(self, cpu: bool = False):
        """cpu=True keeps the ranks on CPUs even where GPUs exist (student.device = "cpu")."""
        self.state, self.cpu = None, cpu
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch
            from accelerate import PartialState

            # accelerate only picks gloo for CPU processes when told they are CPU processes
            self.cpu = cpu or not torch.cuda.is_available()
            # a rank with no chunk in the last wave waits for the others in a collective: allow long waves
            self.state = PartialState(cpu=self.cpu, timeout=datetime.timedelta(hours=COLLECTIVE_TIMEOUT_H))
        self.rank = self.state.process_index if self.state else 0
        self.world = self.state.num_processes if self.state else 1
        self.is_main = self.rank == 0

    @property
    def device(self) -> str | None:
        """The device accelerate gave this rank (cuda:LOCAL_RANK, or cpu); None outside a launch."""
        return str(self.state.device) if self.state else None

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank (picklable objects)."""
        if self.world == 1:
            return [obj]
        from accelerate.utils import gather_object
        return gather_object([obj])

    def share(self, obj):
        """The main rank's `obj` on every rank: what the store said when the main rank read it, so a store the
        app changes meanwhile cannot give the ranks different plans (and a hang in a collective)."""
        if self.world == 1:
            return obj
        import torch.distributed as dist
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    def accelerator(self):
        """An Accelerator for a training loop; the scheduler steps once per optimiser step, whatever the world."""
        from accelerate import Accelerator
        return Accelerator(cpu=self.cpu, step_scheduler_with_optimizer=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(compute: ComputeConfig, engine_args: list[str]) -> list[str]:
    """`accelerate launch` of `python -m elad_engine ENGINE_ARGS` on `compute.processes` processes."""
    compute.check_file()  # the file may have moved or changed since the config was set
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(compute.processes),
           "--num_machines", "1", "--main_process_port", str(free_port())]
    if compute.accelerate_config:
        cmd += ["--config_file", str(compute.config_file())]
    else:
        # DDP through torchrun. accelerate names it --multi_gpu, but on a machine without GPUs the ranks are CPU
        # processes on gloo (Processes tells accelerate so). Precision is the engine's own (training.precision).
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return cmd + ["-m", "elad_engine", *engine_args]


def shown(cmd: list[str]) -> str:
    """The command as a user would type it (`accelerate launch ...`), for logs and the Rounds page."""
    i = cmd.index("accelerate.commands.launch")
    return "accelerate launch " + " ".join(cmd[i + 1:])


def run_launched(cmd: list[str], progress: Callable[[str, int, int], None], cancelled: Callable[[], bool],
                 what: str, extra_env: dict[str, str] | None = None) -> None:
    """Run a launch to its end, passing its progress lines to `progress`. Raises LaunchCancelled (after stopping
    the whole process group) when `cancelled()` says stop, and EladError naming the failure on a non-zero exit;
    on any other exception here (Ctrl-C, a store error in `progress`) the group is stopped before it propagates."""
    env = dict(os.environ, **{PROGRESS_ENV: "1", PARENT_ENV: str(os.getpid()), "PYTHONUNBUFFERED": "1"},
               **(extra_env or {}))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                            errors="replace", start_new_session=True)
    lines: queue.Queue = queue.Queue()
    tail: collections.deque = collections.deque(maxlen=60)
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()

    def drain() -> None:
        while True:
            try:
                line = lines.get_nowait().rstrip("\n")
            except queue.Empty:
                return
            if line.startswith(PROGRESS_PREFIX):
                try:
                    p = json.loads(line[len(PROGRESS_PREFIX):])
                except ValueError:  # a line another rank's output cut into: the next one will do
                    continue
                progress(p["phase"], p["done"], p["total"])
            elif line.strip():
                tail.append(line)

    try:
        while proc.poll() is None:
            drain()
            if cancelled():
                raise LaunchCancelled(what)
            time.sleep(0.2)
        reader.join(timeout=5)
        drain()
    except BaseException:
        stop_group(proc)
        raise
    finally:
        proc.stdout.close()
    if proc.returncode != 0:
        errors = [line for line in tail if line.startswith("error: ")]
        head = errors[-1][len("error: "):] if errors else f"exit status {proc.returncode}"
        raise EladError(f"{what} failed: {head}\nlast output of the launch:\n" + "\n".join(list(tail)[-25:]))


class LaunchCancelled(Exception):
    """The caller's cancel check said stop while a launch ran; the group was stopped."""


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the launcher's group (torchrun passes it on to its ranks), SIGKILL after a grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_S)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def report_progress(phase: str, done: int, total: int) -> None:
    """Progress of a launched command's main rank, as one line its parent parses."""
    sys.stdout.write(PROGRESS_PREFIX + json.dumps({"phase": phase, "done": done, "total": total}) + "\n")  # one write
    sys.stdout.flush()


def exit_with_launcher() -> None:
    """In a launched rank: exit when the worker that launched the group has died, or the launcher itself (the
    rank's parent) has, so no orphaned group keeps writing the store while a new worker resumes the round."""
    worker = int(os.environ.get(PARENT_ENV, "0"))
    if not worker:
        return
    launcher = os.getppid()

    def alive(pid: int) -> bool:
        if not os.path.isdir("/proc"):  # no procfs (macOS): a signal 0 probe, which a zombie passes
            try:
                os.kill(pid, 0)
                return True
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
        try:
            with open(f"/proc/{pid}/stat") as f:  # a dead worker its parent has not reaped yet is a zombie
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
        except OSError:
            return True

    def watch() -> None:
        while True:
            time.sleep(2)
            if os.getppid() != launcher or not alive(worker):
                os._exit(3)
    threading.Thread(target=watch, daemon=True).start()
