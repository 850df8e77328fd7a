"""The `elad import` command: a dataset file into a project, read with a preset (`--preset aqua`) and/or mapping
flags (`--question "{Body} {Question}"`, `--choices`, `--label-map true=yes,false=no`, ...). cli.py registers it."""

from __future__ import annotations

from .tasks.presets import PRESETS
from .tasks.registry import ANSWER_TYPES


def cmd_import(args, studio_of, workspace_of) -> int:
    from .service import ColumnMapping
    from .tasks.datasets import read_dataset
    from .tasks.mapping import parse_label_map

    given = {"question": args.question, "answer": args.answer, "rationale": args.rationale, "id": args.id,
             "split": args.split_column, "choices": args.choices, "difficulty": args.difficulty,
             "records": args.records, "label_map": parse_label_map(args.label_map) if args.label_map else None,
             "gold_optional": args.allow_no_gold or None}
    mapping = {k: v for k, v in given.items() if v is not None}
    options = dict(mapping=mapping if args.preset else ColumnMapping(**mapping), preset=args.preset,
                   answer_type=args.answer_type, split=args.split, test_fraction=args.test_fraction, seed=args.seed,
                   file_format=args.format)
    if not (workspace_of(args) / "elad.db").exists():
        read_dataset(args.file, **options)  # a refused file leaves no workspace behind
    studio = studio_of(args)
    existed = studio.projects.exists(args.project)
    chosen = {k: v for k, v in {"teacher.kind": args.teacher}.items() if v}
    if existed and (args.student or chosen):
        from .errors import EladError
        raise EladError(f"--student and --teacher set up a new project; {args.project!r} exists: change it with "
                        f"`elad config --project {args.project} --set student.path=... teacher.kind=...`")
    if args.student or chosen:  # a pretrained student gets the LoRA and batch settings that suit it
        options["config"] = studio.projects.new_config(args.student, **chosen)
    project_id, n = studio.projects.import_file(args.project, args.file, **options)
    if not existed:
        print(f"created project {args.project!r}")
    splits = studio.projects.example_counts(project_id)
    print(f"imported {n} rows into {args.project!r} ({', '.join(f'{k}: {v}' for k, v in sorted(splits.items()))})")
    return 0


def add_import_command(add, studio_of, workspace_of) -> None:
    im = add("import", lambda args: cmd_import(args, studio_of, workspace_of),
             "Import a dataset file (JSONL, CSV, Parquet, JSON) into a project. Columns may be dotted paths into "
             "nested JSON with list indexes (question.stem, lSolutions[0]).")
    im.add_argument("file")
    im.add_argument("--project", default="default", help="project name; created if missing (default 'default')")
    im.add_argument("--preset", choices=sorted(PRESETS), help="a public dataset's own file layout (mapping flags "
                    "given too replace the preset's choice for their field)")
    im.add_argument("--answer-type", choices=list(ANSWER_TYPES),
                    help="how answers are read and compared (default: the preset's, else number)")
    im.add_argument("--split", default="auto", choices=["auto", "pool", "test"],
                    help="auto: the split column if mapped, else a seeded test fraction")
    im.add_argument("--test-fraction", type=float, default=0.2)
    im.add_argument("--seed", type=int, default=0)
    im.add_argument("--question", help="column or template holding the question, e.g. \"{Body} {Question}\"")
    for col, what in (("answer", "the gold answer"), ("rationale", "the gold rationale (text or a list of steps)"),
                      ("id", "the row id"), ("choices", "the choices (a list of strings or of {label, text})"),
                      ("difficulty", "an integer difficulty")):
        im.add_argument(f"--{col}", help=f"column holding {what}")
    im.add_argument("--split-column", help="column holding pool/test (train, validation, val and dev too)")
    im.add_argument("--label-map", help="rewrite gold answers, e.g. true=yes,false=no")
    im.add_argument("--records", help="path to the list of rows in a JSON file that wraps them, e.g. data")
    im.add_argument("--format", choices=["jsonl", "json", "csv", "parquet"], help="read the file as this format "
                    "whatever its extension")
    im.add_argument("--allow-no-gold", action="store_true", help="accept pool rows without a gold answer (the "
                    "teacher answers them)")
    im.add_argument("--student", help="a new project's student: student:NAME (e.g. student:smollm2-135m after `make "
                    "real-student`), a Hugging Face id (org/name) or a model folder; default the shipped demo student, "
                    "for the embedded task only")
    im.add_argument("--teacher", choices=["reference", "openai", "oracle"], help="a new project's teacher: reference "
                    "(the data's reference solutions, simulated: a dry run), openai (then `elad config` its endpoint), "
                    "oracle (the embedded task only)")
