"""Command line: `elad COMMAND --help` for COMMAND in demo, init, import, config, fit, check-teacher, round, score,
train, worker, status, export, backup, student, user (or `python -m elad_engine ...`). `score` and `train` also run as
they are under `accelerate launch`.

The workspace is `--workspace DIR`, else $ELAD_WORKSPACE, else ./workspace. Every command acts through the service
layer as the system user `cli` (whoever runs it has the workspace's files anyway). Errors the user can fix are
printed as one message (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path

from .accounts import User
from .cli_import import add_import_command
from .cli_student import add_student_command
from .config import ProjectConfig, parse_setting
from .errors import EladError
from .logs import configure_logging
from .modes import TeacherKind
from .resources import TINY_STUDENT
from .service import Studio
from .states import StopReason


def workspace_of(args) -> Path:
    return Path(args.workspace or os.environ.get("ELAD_WORKSPACE") or "workspace")


def studio_of(args) -> Studio:
    return Studio.open(workspace_of(args), User.system(f"cli:{os.environ.get('USER') or 'operator'}"))


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


def teacher_overrides(args) -> dict:
    flags = {"teacher.kind": args.teacher, "teacher.base_url": args.base_url, "teacher.model": args.model,
             "teacher.api_key_env": args.api_key_env}
    return {k: v for k, v in flags.items() if v is not None}


def run_rounds(studio: Studio, project_id: int, max_rounds: int | None = None) -> int:
    bar = TqdmProgress()
    t0 = time.perf_counter()
    outcome = studio.rounds.run(project_id, max_rounds=max_rounds, progress=bar,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    bar.close()
    print(studio.metrics.table_text(project_id))
    print(f"stopped: {outcome.stop_reason}: {outcome.message} ({time.perf_counter() - t0:.0f}s)")
    if outcome.stop_reason == StopReason.TEACHER_UNAVAILABLE:
        print(f"error: {outcome.error}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args) -> int:
    studio = studio_of(args)
    overrides = {"rounds.rounds": args.rounds, "rounds.warmup": args.warmup, "selection.round_budget": args.budget,
                 **teacher_overrides(args)}
    project_id = studio.projects.create_demo(pool=args.pool, test=args.test, student=args.student, **overrides)
    print(f"workspace {studio.workspace_dir}, project 'demo': {studio.projects.example_counts(project_id)}")
    return 0 if args.prepare_only else run_rounds(studio, project_id)


def cmd_init(args) -> int:
    studio = studio_of(args)
    cfg = ProjectConfig.load(args.config) if args.config else ProjectConfig().validate()
    overrides = teacher_overrides(args) | ({"student.path": args.student} if args.student else {})
    project_id = studio.projects.create(args.project, cfg.with_overrides(**overrides) if overrides else cfg)
    print(f"created project {args.project!r} (id {project_id}) in {studio.workspace_dir}")
    return 0


def cmd_round(args) -> int:
    studio = studio_of(args)
    project_id = studio.projects.id_of(args.project)
    if teacher_overrides(args):
        studio.projects.set(project_id, **teacher_overrides(args))
    return run_rounds(studio, project_id, max_rounds=args.max_rounds)


def cmd_launched(args) -> int:
    """`score` / `train`: this process (group) does the work, whatever compute.processes says; progress goes to the
    launching worker as lines, or to a bar on the main rank."""
    from .student.distributed import PROGRESS_ENV, report_progress

    studio = studio_of(args)
    progress = report_progress if os.environ.get(PROGRESS_ENV) else TqdmProgress()
    detail = studio.rounds.run_as_rank(studio.projects.id_of(args.project), args.round, args.command, progress)
    if detail:
        print(f"round {args.round}: {detail}", flush=True)
    return 0


def cmd_status(args) -> int:
    studio = studio_of(args)
    project_id = studio.projects.id_of(args.project)
    cfg, status = studio.projects.config(project_id), studio.rounds.status(project_id)
    print(f"project {args.project!r}: {studio.projects.example_counts(project_id)}; strategy "
          f"{cfg.selection.strategy}, teacher {cfg.teacher.kind}, review {cfg.review.policy}")
    source = studio.projects.student_source(project_id)
    print(f"student {cfg.student.path}" + (f" @ commit {source['commit']} (pinned)" if source else ""))
    for r in status["rounds"]:
        phases = ", ".join(f"{p['phase']}={p['status']}" for p in r["phases"])
        print(f"round {r['round']}: {r['status']}{' (' + r['stop_reason'] + ')' if r['stop_reason'] else ''}: {phases}")
    spend = status["spend"]
    print(f"teacher: {spend['calls']} paid calls, {spend['prompt_tokens']:,} prompt + {spend['completion_tokens']:,} "
          f"completion tokens, ${spend['cost_usd']:.4f}; {spend['cached_calls']} answered from the request cache"
          + (f"; {spend['simulated_calls']} answered by a simulated teacher (priced as an LLM would be, nothing paid)"
             if spend["simulated_calls"] else ""))
    print(studio.metrics.table_text(project_id))
    return 0


def cmd_fit(args) -> int:
    """The fit check of a project as configured: each misfit with its way out; exit 2 when rounds would be refused."""
    studio = studio_of(args)
    findings = studio.rounds.fit(studio.projects.id_of(args.project))
    for f in findings:
        kind = "refused" if f["refuses"] else "overridden" if f["overridden"] else "note"
        print(f"{kind} [{f['check']}]: {f['message']}")
    if not any(f["refuses"] for f in findings):
        print(f"fit check: project {args.project!r} can start its rounds")
        return 0
    return 2


def cmd_check_teacher(args) -> int:
    studio = studio_of(args)
    cfg = studio.projects.config(studio.projects.id_of(args.project)).with_overrides(**teacher_overrides(args))
    print(f"teacher: {studio.projects.check_teacher(cfg.teacher)}")
    return 0


def cmd_worker(args) -> int:
    from .jobs.worker import run_worker

    ws = workspace_of(args)
    print(f"worker {os.getpid()} on {ws.resolve()}: waiting for jobs (Ctrl-C stops)", flush=True)
    try:
        n = run_worker(ws, once=args.once, idle_exit_s=args.idle_exit, stale_s=args.stale_after)
    except KeyboardInterrupt:
        return 0
    print(f"worker {os.getpid()}: ran {n} job(s)")
    return 0


def cmd_backup(args) -> int:
    if args.restore:
        from .backup import restore_backup

        info = restore_backup(args.restore, workspace_of(args))
        print(f"restored {args.restore} into {workspace_of(args).resolve()}: projects {info['projects']}")
        return 0
    if not args.to:
        raise EladError("backup needs --to DIR (a new folder), or --restore BACKUP_DIR")
    info = studio_of(args).maintenance.backup(args.to, artifacts=not args.no_artifacts)
    print(f"backed up {info['workspace']} to {Path(args.to).resolve()}: projects {info['projects']}, "
          f"{info['artifact_files']} artifact files, {info['seconds']} s")
    return 0


def cmd_user(args) -> int:
    studio = studio_of(args)
    if args.action == "list":
        for u in studio.accounts.list():
            print(f"{u['name']:<24} {u['role']}")
        return 0
    if not args.name:
        raise EladError("user add needs a NAME")
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise EladError("the two passwords differ; nothing was changed")
    else:
        password = sys.stdin.readline().rstrip("\n")  # e.g. from a secrets manager: never on the command line
    studio.accounts.add(args.name, password, args.role)
    print(f"added {args.role} {args.name!r}")
    return 0


def cmd_export(args) -> int:
    studio = studio_of(args)
    paths = studio.exports.build(studio.projects.id_of(args.project), args.round, args.out, merged=not args.no_merged,
                                 gguf=args.gguf)
    for k, v in paths.items():
        print(f"{k:>8}: {v}")
    return 0


def cmd_config(args) -> int:
    studio = studio_of(args)
    project_id = studio.projects.id_of(args.project)
    cfg = studio.projects.config(project_id)
    if args.set:
        overrides = dict(parse_setting(item) for item in args.set)
        cfg = studio.projects.set(project_id, **overrides)
    print(cfg.to_toml())
    return 0


def add_teacher_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("teacher (saved in the project's config)")
    g.add_argument("--teacher", choices=list(TeacherKind), help="teacher backend: oracle (the embedded task's), "
                   "reference (reference solutions from the data: simulated, no cost) or openai (an endpoint)")
    g.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    g.add_argument("--model", help="the endpoint's model name")
    g.add_argument("--api-key-env", help="NAME of the environment variable holding the API key ('' for none)")


def add_project_commands(add) -> None:
    d = add("demo", cmd_demo, "Create the embedded demo project and run warm-up plus rounds (auto-approve).")
    d.add_argument("--rounds", type=int, default=3, help="rounds after the warm-up (default 3)")
    d.add_argument("--warmup", type=int, default=8, help="warm-up samples, fully annotated (default 8)")
    d.add_argument("--budget", type=int, default=48, help="samples sent to the teacher per round (default 48)")
    d.add_argument("--pool", type=int, default=400, help="pool size of a new demo project (default 400)")
    d.add_argument("--test", type=int, default=400, help="test size of a new demo project (default 400)")
    d.add_argument("--prepare-only", action="store_true", help="create the demo project, run nothing")
    d.add_argument("--student", help="student.path of a new demo project, e.g. student:smollm2-135m (registered with "
                   "`elad student add` or `make real-student`); default the shipped tiny student")
    add_teacher_flags(d)

    i = add("init", cmd_init, "Create a project from a config TOML (or the defaults).")
    i.add_argument("--project", required=True)
    i.add_argument("--config", help="project config TOML file")
    i.add_argument("--student", help=f"student model folder (default {TINY_STUDENT}, the shipped demo student)")
    add_teacher_flags(i)

    add_import_command(add, studio_of, workspace_of)

    c = add("config", cmd_config, "Show or change a project's config: --set section.field=value ...")
    c.add_argument("--project", required=True)
    c.add_argument("--set", nargs="*", help="e.g. selection.strategy=random rounds.rounds=5")

    f = add("fit", cmd_fit, "Check that the project's student, teacher and data fit together (what a round checks "
            "before it starts); exit 2 when rounds would be refused.")
    f.add_argument("--project", required=True)

    ct = add("check-teacher", cmd_check_teacher, "Check that the project's teacher endpoint answers and serves "
             "its model (lists models; costs nothing).")
    ct.add_argument("--project", required=True)
    add_teacher_flags(ct)


def add_round_commands(add) -> None:
    r = add("round", cmd_round, "Run or resume rounds until R are done, the budget, an empty pool, or review.")
    r.add_argument("--project", required=True)
    r.add_argument("--max-rounds", type=int, help="run at most this many rounds now")
    add_teacher_flags(r)

    for name, what in (("score", "Explain and score a round's unlabeled pool"),
                       ("train", "Train a round's student on every approved sample so far")):
        sc = add(name, cmd_launched, f"{what}, in this process or as one rank of `accelerate launch "
                                     "--num_processes N` (the round loop launches it so itself when "
                                     "compute.processes > 1).")
        sc.add_argument("--project", required=True)
        sc.add_argument("--round", type=int, required=True)

    w = add("worker", cmd_worker, "Run queued jobs (rounds, exports) for the web app; the app starts one itself.")
    w.add_argument("--once", action="store_true", help="exit when the queue is empty")
    w.add_argument("--idle-exit", type=float, help="exit after this many idle seconds")
    w.add_argument("--stale-after", type=float, default=15.0,
                   help="seconds without a heartbeat after which a running job is presumed orphaned and resumed")

    s = add("status", cmd_status, "Show a project's rounds, phases, teacher spend and metrics.")
    s.add_argument("--project", required=True)

    e = add("export", cmd_export, "Export a round's adapter, merged model, model card and approved data.")
    e.add_argument("--project", required=True)
    e.add_argument("--round", type=int, help="round to export (default: the best evaluated round)")
    e.add_argument("--out", help="output folder (default: the workspace's artifacts/PROJECT/exports/round-N)")
    e.add_argument("--no-merged", action="store_true", help="skip the merged model folder")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--gguf", dest="gguf", action="store_const", const=True, default=None,
                   help="require the GGUF files and the Ollama Modelfile (default: written where `make gguf-tools` "
                   "installed llama.cpp's converter, said in the card where not)")
    g.add_argument("--no-gguf", dest="gguf", action="store_const", const=False, help="leave out the GGUF files")


def add_admin_commands(add) -> None:
    bk = add("backup", cmd_backup, "Copy a live workspace (SQLite online backup + artifacts), or restore one.")
    bk.add_argument("--to", help="new folder for the backup")
    bk.add_argument("--no-artifacts", action="store_true", help="database only (no checkpoints or exports)")
    bk.add_argument("--restore", metavar="BACKUP_DIR", help="restore this backup into --workspace (a new folder)")

    add_student_command(add, studio_of)

    us = add("user", cmd_user, "Add or list accounts (the password is read from the terminal or stdin).")
    us.add_argument("action", choices=["add", "list"])
    us.add_argument("name", nargs="?")
    us.add_argument("--role", default="reviewer", choices=["admin", "reviewer", "viewer"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="elad", description="ELAD Studio engine, headless (also `python -m "
                                "elad_engine`).")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--workspace", help="workspace folder (default: $ELAD_WORKSPACE or ./workspace)")
        sp.set_defaults(fn=fn)
        return sp

    add_project_commands(add)
    add_round_commands(add)
    add_admin_commands(add)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging()
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
