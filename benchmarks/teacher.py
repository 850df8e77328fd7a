"""Teacher throughput benchmark (a benchmark, not a test): N revisions through the real dispatch path (request
cache, budget reservations, ledger in SQLite) against the loopback OpenAI-compatible server with a fixed
latency per call, compared with the ideal N x latency / concurrency; then the same run again, which must
make no call at all (request cache).

Run: `python -m benchmarks.teacher [--requests 64 --latency 0.2 --concurrency 16]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the loopback server lives with the tests

from teacher_server import serve_in_subprocess  # noqa: E402

from elad_engine.config import ProjectConfig, TeacherConfig  # noqa: E402
from elad_engine.method.cost import Budget  # noqa: E402
from elad_engine.store import Store  # noqa: E402
from elad_engine.tasks.synthetic import generate, solution_steps  # noqa: E402
from elad_engine.teachers.dispatch import Ledger, run_requests  # noqa: E402
from elad_engine.teachers.openai_compat import OpenAICompatTeacher  # noqa: E402
from elad_engine.teachers.protocol import build_request  # noqa: E402


def one_run(store: Store, pid: int, cfg: TeacherConfig, requests) -> tuple[float, int, int]:
    teacher = OpenAICompatTeacher(cfg)
    ok = []
    ledger = Ledger(store, pid, 1, Budget(), cfg.price(), cfg.model)
    t0 = time.perf_counter()
    run_requests(teacher, requests, ledger, cfg.max_tokens, lambda req, res: ok.append(res.status == "ok"))
    return time.perf_counter() - t0, teacher.calls_made, sum(ok)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args(argv)
    examples = generate(args.requests, 7)
    requests = []
    for e in examples:  # the student's steps with the last result off by one: a real revision each
        steps = solution_steps(e.meta)
        head, _, result = steps[-1].rpartition("= ")
        requests.append(build_request(e, "revision", steps[:-1] + [f"{head}= {int(result) + 1}"],
                                      str(int(result) + 1), False))
    os.environ["ELAD_BENCH_KEY"] = "sk-bench"
    # The server runs in its own process, as a remote endpoint would: its work does not slow the client here.
    proc, base_url = serve_in_subprocess(examples, api_key="sk-bench", latency=args.latency)
    try:
        with tempfile.TemporaryDirectory() as ws:
            store = Store(ws)
            pid = store.projects.create("bench", ProjectConfig())
            cfg = TeacherConfig(kind="openai", model="teacher-test", base_url=base_url,
                                api_key_env="ELAD_BENCH_KEY", concurrency=args.concurrency)
            first = one_run(store, pid, cfg, requests)
            second = one_run(store, pid, cfg, requests)
            store.close()
        with urllib.request.urlopen(urllib.request.Request(
                base_url + "/stats", headers={"Authorization": "Bearer sk-bench"})) as r:
            served = json.load(r)["requests"]
    finally:
        proc.terminate()
    ideal = args.requests * args.latency / args.concurrency
    print(f"# {args.requests} revisions, {args.latency * 1000:.0f} ms latency per call, concurrency "
          f"{args.concurrency}; {platform.machine()}, Python {platform.python_version()}")
    print("| run | seconds | calls made | revisions ok | throughput vs ideal |")
    print("|---|---|---|---|---|")
    print(f"| ideal (N x latency / concurrency) | {ideal:.2f} | {args.requests} | {args.requests} | 100% |")
    print(f"| first run | {first[0]:.2f} | {first[1]} | {first[2]} | {ideal / first[0]:.0%} |")
    print(f"| second identical run (request cache) | {second[0]:.2f} | {second[1]} | {second[2]} | - |")
    print(f"server saw {served} chat calls in all")


if __name__ == "__main__":
    main()
