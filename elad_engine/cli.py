"""Command line: `python -m elad_engine {demo,init,import,round,score,train,check-teacher,worker,status,export,backup,
user,config,build-student} --help`. `score` and `train` also run as they are under `accelerate launch`.

The workspace is `--workspace DIR`, else $ELAD_WORKSPACE, else ./workspace. Errors the user can fix are
printed as one message (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .config import DEFAULT_STUDENT, ProjectConfig
from .errors import EladError
from .evaluation import multi_step_accuracy
from .projects import DEMO_PROJECT, create_demo_project
from .store import Store



def workspace_of(args) -> Path:
    return Path(args.workspace or os.environ.get("ELAD_WORKSPACE") or "workspace")


class TqdmProgress:
    """One tqdm bar per phase, replaced when the phase changes."""

    def __init__(self):
        self.bar, self.phase = None, None

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm
        if phase != self.phase or self.bar is None or self.bar.total != total:
            self.close()
            # initial=done: resumed work is not counted as speed, so the ETA stays honest
            self.bar = tqdm(total=total, initial=done, desc=f"{phase:>8}", leave=False, file=sys.stderr)
            self.phase = phase
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def metrics_rows(store: Store, pid: int) -> str:
    head = (f"{'round':>5} {'accuracy':>8} {'multi-step':>10} {'1-step':>6} {'prompt tok':>10} "
            f"{'compl. tok':>10} {'USD':>8} {'approved':>8} {'edited':>6} {'rejected':>8} {'seconds':>7}")
    lines = [head]
    for m in store.metrics(pid):
        if m["accuracy"] is None:
            continue
        by = m["by_difficulty"] or {}
        one = by.get("1", {}).get("accuracy")
        ms = multi_step_accuracy(by)
        secs = sum((m["phase_seconds"] or {}).values())
        f = lambda x: "-" if x is None else f"{x:.3f}"
        lines.append(f"{m['round']:>5} {f(m['accuracy']):>8} {f(ms):>10} {f(one):>6} {m['prompt_tokens'] or 0:>10,} "
                     f"{m['completion_tokens'] or 0:>10,} {m['cost_usd'] or 0:>8.4f} {m['approved'] or 0:>8} "
                     f"{m['edited'] or 0:>6} {m['rejected'] or 0:>8} {secs:>7.1f}")
    base = next((m["base_accuracy"] for m in store.metrics(pid) if m["round"] == 0), None)
    if base is not None:
        lines.append(f"(round 0 starting student, before warm-up training: accuracy {base:.3f})")
    return "\n".join(lines)


def add_teacher_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("teacher (saved in the project's config)")
    g.add_argument("--teacher", choices=["oracle", "openai"], help="teacher backend")
    g.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    g.add_argument("--model", help="the endpoint's model name")
    g.add_argument("--api-key-env", help="NAME of the environment variable holding the API key ('' for none)")


def teacher_overrides(args) -> dict:
    flags = {"teacher.kind": args.teacher, "teacher.base_url": args.base_url, "teacher.model": args.model,
             "teacher.api_key_env": args.api_key_env}
    return {k: v for k, v in flags.items() if v is not None}


def run_rounds(store: Store, pid: int, max_rounds: int | None = None) -> int:
    from .rounds import RoundRunner

    bar = TqdmProgress()
    runner = RoundRunner(store, pid, progress=bar, log=lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    outcome = runner.run(max_rounds=max_rounds)
    bar.close()
    print(metrics_rows(store, pid))
    print(f"stopped: {outcome.stop_reason}: {outcome.message} ({time.perf_counter() - t0:.0f}s)")
    return 0


def cmd_demo(args) -> int:
    store = Store(workspace_of(args))
    overrides = {"rounds.rounds": args.rounds, "rounds.warmup": args.warmup, "selection.round_budget": args.budget,
                 **teacher_overrides(args)}
    pid = create_demo_project(store, pool=args.pool, test=args.test, **overrides)
    print(f"workspace {store.workspace.resolve()}, project {DEMO_PROJECT!r}: {store.count_examples(pid)}")
    if args.prepare_only:
        return 0
    return run_rounds(store, pid)


def cmd_init(args) -> int:
    store = Store(workspace_of(args))
    cfg = ProjectConfig.load(args.config) if args.config else ProjectConfig().validate()
    overrides = teacher_overrides(args)
    if args.student:
        overrides["student.path"] = args.student
    if overrides:
        cfg = cfg.with_overrides(**overrides)
    pid = store.create_project(args.project, cfg)
    print(f"created project {args.project!r} (id {pid}) in {store.workspace}")
    return 0


def cmd_import(args) -> int:
    from .datasets import ColumnMapping
    from .projects import import_file

    store = Store(workspace_of(args))
    mapping = None
    if any([args.question, args.answer, args.rationale, args.id, args.split_column, args.choices]):
        mapping = ColumnMapping(question=args.question or "question", answer=args.answer or "answer",
                                rationale=args.rationale, id=args.id, split=args.split_column, choices=args.choices)
    existed = store.find_project(args.project) is not None
    pid, n = import_file(store, args.project, args.file, mapping=mapping, preset=args.preset,
                         answer_type=args.answer_type, split=args.split, test_fraction=args.test_fraction,
                         seed=args.seed)
    if not existed:
        print(f"created project {args.project!r}")
    splits = store.count_examples(pid)
    print(f"imported {n} rows into {args.project!r} ({', '.join(f'{k}: {v}' for k, v in sorted(splits.items()))})")
    return 0


def cmd_round(args) -> int:
    store = Store(workspace_of(args))
    pid = store.project_id(args.project)
    overrides = teacher_overrides(args)
    if overrides:
        store.set_config(pid, store.config(pid).with_overrides(**overrides))
    return run_rounds(store, pid, max_rounds=args.max_rounds)


def launched_runner(args):
    """(runner, round) for `score` / `train`: this process (group) does the work, whatever compute.processes says;
    progress goes to the launching worker as lines, or to a bar on the main rank."""
    from .distributed import PROGRESS_ENV, exit_with_launcher, report_progress
    from .rounds import RoundRunner

    exit_with_launcher()
    store = Store(workspace_of(args))
    pid = store.project_id(args.project)
    runner = RoundRunner(store, pid, launch=False)
    nxt = runner.next_round()
    if args.round != nxt:
        raise EladError(f"--round {args.round}: project {args.project!r} is at round {nxt}; finished rounds are "
                        "never redone and later ones need this one first")
    if args.command == "score" and nxt == 0:
        raise EladError("--round 0 is the warm-up: its samples are drawn at random, so there is no pool to score")
    if runner.procs.is_main:
        runner.progress = report_progress if os.environ.get(PROGRESS_ENV) else TqdmProgress()
        store.start_round(pid, args.round)
    runner.procs.barrier()
    return runner, args.round


def cmd_score(args) -> int:
    runner, rnd = launched_runner(args)
    detail = runner.phase_explain(rnd)
    if runner.procs.is_main:
        detail += "; " + runner.phase_score(rnd)
        print(f"round {rnd}: {detail}", flush=True)
    runner.procs.barrier()
    return 0


def cmd_train(args) -> int:
    runner, rnd = launched_runner(args)
    detail = runner.phase_train(rnd, again=True)
    if runner.procs.is_main:
        print(f"round {rnd}: {detail}", flush=True)
    return 0


def cmd_status(args) -> int:
    store = Store(workspace_of(args))
    pid = store.project_id(args.project)
    cfg = store.config(pid)
    print(f"project {args.project!r}: {store.count_examples(pid)}; strategy {cfg.selection.strategy}, "
          f"teacher {cfg.teacher.kind}, review {cfg.review.policy}")
    for r in store.rounds(pid):
        phases = ", ".join(f"{p['phase']}={p['status']}" for p in store.phases(pid, r["round"]))
        print(f"round {r['round']}: {r['status']}{' (' + r['stop_reason'] + ')' if r['stop_reason'] else ''}: {phases}")
    spend = store.spend(pid)
    print(f"teacher: {spend['calls']} paid calls, {spend['prompt_tokens']:,} prompt + {spend['completion_tokens']:,} "
          f"completion tokens, ${spend['cost_usd']:.4f}; {spend['cached_calls']} answered from the request cache")
    print(metrics_rows(store, pid))
    return 0


def cmd_check_teacher(args) -> int:
    store = Store(workspace_of(args))
    cfg = store.config(store.project_id(args.project)).with_overrides(**teacher_overrides(args))
    if cfg.teacher.kind == "oracle":
        print("teacher: oracle (built in, nothing to connect to)")
        return 0
    from .teachers.openai_compat import check_connection
    print(f"teacher: {check_connection(cfg.teacher)}")
    return 0


def cmd_worker(args) -> int:
    from .worker import run_worker

    ws = workspace_of(args)
    print(f"worker {os.getpid()} on {ws.resolve()}: waiting for jobs (Ctrl-C stops)", flush=True)
    try:
        n = run_worker(ws, once=args.once, idle_exit_s=args.idle_exit, stale_s=args.stale_after)
    except KeyboardInterrupt:
        return 0
    print(f"worker {os.getpid()}: ran {n} job(s)")
    return 0


def cmd_backup(args) -> int:
    from .backup import backup_workspace, restore_backup

    if args.restore:
        info = restore_backup(args.restore, workspace_of(args))
        print(f"restored {args.restore} into {workspace_of(args).resolve()}: projects {info['projects']}")
        return 0
    if not args.to:
        raise EladError("backup needs --to DIR (a new folder), or --restore BACKUP_DIR")
    info = backup_workspace(workspace_of(args), args.to, artifacts=not args.no_artifacts)
    print(f"backed up {info['workspace']} to {Path(args.to).resolve()}: projects {info['projects']}, "
          f"{info['artifact_files']} artifact files, {info['seconds']} s")
    return 0


def cmd_user(args) -> int:
    from .accounts import add_user

    store = Store(workspace_of(args))
    if args.action == "list":
        for u in store.users():
            print(f"{u['name']:<24} {u['role']}")
        return 0
    if not args.name:
        raise EladError("user add needs a NAME")
    if sys.stdin.isatty():
        import getpass
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise EladError("the two passwords differ; nothing was changed")
    else:
        password = sys.stdin.readline().rstrip("\n")  # e.g. from a secrets manager: never on the command line
    add_user(store, args.name, password, args.role)
    print(f"added {args.role} {args.name!r}")
    return 0


def cmd_export(args) -> int:
    from .export import export_round

    store = Store(workspace_of(args))
    paths = export_round(store, store.project_id(args.project), args.round, args.out, merged=not args.no_merged)
    for k, v in paths.items():
        print(f"{k:>8}: {v}")
    return 0


def cmd_config(args) -> int:
    store = Store(workspace_of(args))
    pid = store.project_id(args.project)
    cfg = store.config(pid)
    if args.set:
        overrides = {}
        for item in args.set:
            key, sep, raw = item.partition("=")
            if not sep:
                raise EladError(f"--set {item!r}: expected section.field=value")
            import tomllib
            try:
                overrides[key] = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                overrides[key] = raw  # bare words are strings
        cfg = cfg.with_overrides(**overrides)
        store.set_config(pid, cfg)
    print(cfg.to_toml())
    return 0


def cmd_build_student(args) -> int:
    from .synthetic import build_student

    info = build_student(args.out, seed=args.seed, samples=args.samples)
    print(info)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m elad_engine", description="ELAD Studio engine, headless.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--workspace", help="workspace folder (default: $ELAD_WORKSPACE or ./workspace)")
        sp.set_defaults(fn=fn)
        return sp

    d = add("demo", cmd_demo, "Create the embedded demo project and run warm-up plus rounds (auto-approve).")
    d.add_argument("--rounds", type=int, default=3, help="rounds after the warm-up (default 3)")
    d.add_argument("--warmup", type=int, default=8, help="warm-up samples, fully annotated (default 8)")
    d.add_argument("--budget", type=int, default=48, help="samples sent to the teacher per round (default 48)")
    d.add_argument("--pool", type=int, default=400, help="pool size of a new demo project (default 400)")
    d.add_argument("--test", type=int, default=400, help="test size of a new demo project (default 400)")
    d.add_argument("--prepare-only", action="store_true", help="create the demo project, run nothing")
    add_teacher_flags(d)

    i = add("init", cmd_init, "Create a project from a config TOML (or the defaults).")
    i.add_argument("--project", required=True)
    i.add_argument("--config", help="project config TOML file")
    i.add_argument("--student", help=f"student model folder (default {DEFAULT_STUDENT})")
    add_teacher_flags(i)

    im = add("import", cmd_import, "Import a dataset file (JSONL, CSV, Parquet, JSON array) into a project.")
    im.add_argument("file")
    im.add_argument("--project", default="default", help="project name; created if missing (default 'default')")
    im.add_argument("--preset", choices=["gsm8k", "synthetic"], help="column mapping and parsing preset")
    im.add_argument("--answer-type", default="number", choices=["number", "choice", "label", "text"])
    im.add_argument("--split", default="auto", choices=["auto", "pool", "test"],
                    help="auto: the split column if mapped, else a seeded test fraction")
    im.add_argument("--test-fraction", type=float, default=0.2)
    im.add_argument("--seed", type=int, default=0)
    for col in ("question", "answer", "rationale", "id", "choices"):
        im.add_argument(f"--{col}", help=f"column holding the {col}")
    im.add_argument("--split-column", help="column holding pool/test (or train/test)")

    r = add("round", cmd_round, "Run or resume rounds until R are done, the budget, an empty pool, or review.")
    r.add_argument("--project", required=True)
    r.add_argument("--max-rounds", type=int, help="run at most this many rounds now")
    add_teacher_flags(r)

    for name, fn, what in (("score", cmd_score, "Explain and score a round's unlabeled pool"),
                           ("train", cmd_train, "Train a round's student on every approved sample so far")):
        sc = add(name, fn, f"{what}, in this process or as one rank of `accelerate launch --num_processes N` "
                           "(the round loop launches it so itself when compute.processes > 1).")
        sc.add_argument("--project", required=True)
        sc.add_argument("--round", type=int, required=True)

    w = add("worker", cmd_worker, "Run queued jobs (rounds, exports) for the web app; the app starts one itself.")
    w.add_argument("--once", action="store_true", help="exit when the queue is empty")
    w.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")
    w.add_argument("--stale-after", type=float, default=15.0,
                   help="seconds without a heartbeat after which a running job is presumed orphaned and resumed")

    bk = add("backup", cmd_backup, "Copy a live workspace (SQLite online backup + artifacts), or restore one.")
    bk.add_argument("--to", help="new folder for the backup")
    bk.add_argument("--no-artifacts", action="store_true", help="database only (no checkpoints or exports)")
    bk.add_argument("--restore", metavar="BACKUP_DIR", help="restore this backup into --workspace (a new folder)")

    us = add("user", cmd_user, "Add or list accounts (the password is read from the terminal or stdin).")
    us.add_argument("action", choices=["add", "list"])
    us.add_argument("name", nargs="?")
    us.add_argument("--role", default="reviewer", choices=["admin", "reviewer", "viewer"])

    ct = add("check-teacher", cmd_check_teacher, "Check that the project's teacher endpoint answers and serves "
             "its model (lists models; costs nothing).")
    ct.add_argument("--project", required=True)
    add_teacher_flags(ct)

    s = add("status", cmd_status, "Show a project's rounds, phases, teacher spend and metrics.")
    s.add_argument("--project", required=True)

    e = add("export", cmd_export, "Export a round's adapter, merged model, model card and approved data.")
    e.add_argument("--project", required=True)
    e.add_argument("--round", type=int, help="round to export (default: the best evaluated round)")
    e.add_argument("--out", help="output folder (default: the workspace's artifacts/PROJECT/exports/round-N)")
    e.add_argument("--no-merged", action="store_true", help="skip the merged model folder")

    c = add("config", cmd_config, "Show or change a project's config: --set section.field=value ...")
    c.add_argument("--project", required=True)
    c.add_argument("--set", nargs="*", help="e.g. selection.strategy=random rounds.rounds=5")

    b = add("build-student", cmd_build_student, "Rebuild the tiny demo student from scratch (fixed seed).")
    b.add_argument("--out", default=DEFAULT_STUDENT)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--samples", type=int, default=55000)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.command not in ("score", "train"):
            raise EladError(f"`{args.command}` must not run under `accelerate launch` (every rank would do all of it, "
                            "teacher calls included); only `score` and `train` run as ranks. With "
                            "compute.processes > 1 the round loop launches them itself.")
        return args.fn(args)
    except EladError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
