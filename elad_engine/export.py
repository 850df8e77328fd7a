"""Export a round's student: the adapter, a merged model folder, a model card, and the approved data as
chat-format JSONL. `python -m elad_engine export --project NAME [--round N]` (default: the best round).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .errors import StoreError
from .method.accuracy import multi_step_accuracy
from .method.reasoning import build_prompt
from .modes import TeacherKind
from .store import Store
from .student.checkpoint import check_checkpoint
from .student.hub import parse_hub_id
from .student.prompt_style import STYLE_FILE, PromptStyle
from .tasks.registry import task_for
from .teachers.prompts import PROMPT_VERSION

MARKER = ".elad-export"  # marks a folder this module wrote, the only kind it will ever replace
PARTS = ("adapter", "merged", "README.md", "approved.jsonl", STYLE_FILE)  # what an export holds


def best_round(store: Store, project_id: int) -> int:
    """The evaluated round with the highest test accuracy (the latest on ties) that has a checkpoint."""
    trained = {r["round"] for r in store.training_runs.list(project_id)}
    rows = [m for m in store.metrics.list(project_id) if m["accuracy"] is not None and m["round"] in trained]
    if not rows:
        raise StoreError(f"Project {store.projects.name_of(project_id)!r} has no trained and evaluated round to export "
                         "yet.")
    return max(rows, key=lambda m: (m["accuracy"], m["round"]))["round"]


def metrics_table(metrics: list[dict]) -> str:
    lines = ["| round | accuracy | multi-step accuracy | teacher prompt tokens | teacher completion tokens | "
             "teacher USD | approved | edited | rejected |", "|---|---|---|---|---|---|---|---|---|"]
    for m in metrics:
        ms = multi_step_accuracy(m["by_difficulty"])
        lines.append(f"| {m['round']} | {_pct(m['accuracy'])} | {_pct(ms)} | {m['prompt_tokens'] or 0:,} | "
                     f"{m['completion_tokens'] or 0:,} | {m['cost_usd'] or 0:.4f} | {m['approved'] or 0} | "
                     f"{m['edited'] or 0} | {m['rejected'] or 0} |")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def prompt_section(style: PromptStyle) -> str:
    """The model card's "Prompt format" section: how to ask this student a question."""
    answer = "1. <step>\n2. <step>\nThe answer is <answer>."
    if style.kind == "chat":
        shots = (f" The {len(style.exemplars)} worked exemplars in `prompt_style.json` come first, as earlier user "
                 "and assistant turns." if style.exemplars else "")
        return (f"Chat (the tokenizer's own chat template), with this system message:{shots}\n\n```\n{style.system}"
                f"\n```\n\nThe user message is the question; the assistant answers:\n\n```\n{answer}\n```")
    shots = (f" The {len(style.exemplars)} worked exemplars in `prompt_style.json` come first, each a question and "
             "its explanation followed by a blank line." if style.exemplars else "")
    return f"Completion (a plain text scaffold).{shots}\n\n```\n{build_prompt('<question>')}{answer}\n```"


def export_style(store: Store, project_id: int, checkpoint: Path) -> PromptStyle:
    """The prompt style the checkpoint was trained with (saved beside it), else the project's, else completion."""
    saved = PromptStyle.load(checkpoint)
    if saved is not None:
        return saved
    stored = store.projects.prompt_style(project_id)
    return PromptStyle.from_dict(stored["style"]) if stored else PromptStyle("completion")


def portable_base(folder: str | Path) -> str:
    """A base model name that means something on another machine: the model's own hub id when its config has
    one (`_name_or_path` that is not a path), else the name of its folder. Never this server's absolute path."""
    ref = parse_hub_id(str(folder))
    if ref is not None:  # a student named by its hub id: that id
        return ref.repo_id
    folder = Path(folder)
    try:
        name = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_name_or_path") or ""
    except (OSError, ValueError):
        name = ""
    if name and not Path(name).is_absolute() and not name.startswith((".", "~")) and not (folder / name).exists():
        return name
    return folder.resolve().name


def adapter_card(base: str, base_path: str, adapter_config: dict, style: PromptStyle, title: str) -> str:
    """adapter/README.md: what the adapter is, its LoRA settings, how to load it, how to prompt it (replaces peft's
    template of "[More Information Needed]")."""
    targets = adapter_config.get("target_modules") or []
    targets = ", ".join(sorted(targets)) if isinstance(targets, list) else str(targets)
    return f"""---
library_name: "peft"
base_model: {json.dumps(base)}
tags: ["elad-studio", "lora", "distillation"]
---

# LoRA adapter: {title}

A LoRA adapter for `{base}` (trained on the copy at `{base_path}`), made by ELAD Studio.
Rank {adapter_config.get('r')}, alpha {adapter_config.get('lora_alpha')}, dropout
{adapter_config.get('lora_dropout')}, on the modules {targets}. The export's README.md beside this folder has
the training data, the metrics per round and the method.

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{base}")  # or the folder of your copy of it
model = PeftModel.from_pretrained(base, "adapter")
tokenizer = AutoTokenizer.from_pretrained("{base}")
```

## Prompt format

{prompt_section(style)}
"""


def model_card(store: Store, project_id: int, rnd: int, samples: int, style: PromptStyle) -> str:
    cfg = store.projects.config(project_id)
    name = store.projects.name_of(project_id)
    metrics = store.metrics.list(project_id)
    row = next((m for m in metrics if m["round"] == rnd), None)
    if row is None or row["accuracy"] is None:
        raise StoreError(f"Round {rnd} of project {name!r} was trained but not evaluated yet: run `round` to finish "
                         "it, then export.")
    imports = store.projects.imports(project_id)
    method = (store.training_runs.get(project_id, rnd) or {}).get("method", cfg.training.method)
    base = portable_base(_base_folder(store, cfg, store.training_runs.get(project_id, rnd)))
    front = {"library_name": "peft" if method == "lora" else "transformers", "base_model": base,
             "tags": ["elad-studio", "distillation", "chain-of-thought"],
             "pipeline_tag": "text-generation"}
    yaml = "\n".join(f"{k}: {json.dumps(v)}" for k, v in front.items())
    sources = "\n".join(f"- `{i['source']}`: {i['rows']} rows, imported "
                        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(i['created_at']))} UTC" for i in imports)
    return f"""---
{yaml}
---

# {name}: student after round {rnd}

Distilled with ELAD Studio (explanation-guided active distillation). Each round the student explained the
unlabeled pool, the most uncertain samples (strategy `{cfg.selection.strategy}`, {cfg.selection.round_budget}
per round) went to the teacher (`{cfg.teacher.kind}`, {_teacher_words(cfg.teacher)}, annotation
`{cfg.teacher.annotation}`, prompts `{PROMPT_VERSION}`), reviewers decided each revision (policy
`{cfg.review.policy}`), and the student was fine-tuned ({method}) on everything approved.

Test accuracy of this student: **{_pct(row['accuracy'])}** on {row['test_size']} held-out samples.
Base model: `{base}` (`student.path = {cfg.student.path}`).

## Prompt format

{prompt_section(style)}

## Per-round metrics

{metrics_table(metrics)}

## Data provenance

{sources or '- (no imports recorded)'}
- Training samples: {samples} approved or reviewer-edited explanations from rounds 0-{rnd}
  (`approved.jsonl` beside this card).{_simulated_note(store, project_id, rnd)}
"""


def _teacher_words(teacher) -> str:
    kind = TeacherKind(teacher.kind)
    return f"simulated: {kind.words}" if kind.simulated else f"model `{teacher.model}`"


def _simulated_note(store: Store, project_id: int, rnd: int) -> str:
    """The card's line on simulated teachers: how many training explanations were computed from the data."""
    teachers = list(store.revisions.training_teachers(project_id, rnd).values())
    simulated = {t: teachers.count(t) for t in set(teachers) if TeacherKind.simulated_name(t)}
    if not simulated:
        return ""
    parts = ", ".join(f"{n} by `{t}`" for t, n in sorted(simulated.items()))
    return (f"\n- **Simulated teacher**: {sum(simulated.values())} of the {len(teachers)} training explanations were "
            f"computed from the data, not written by an LLM ({parts}; `reference`: the dataset's own reference "
            "solutions; `oracle`: the embedded task's exact arithmetic). Records say so in `approved.jsonl` "
            "(`\"simulated\": true`).")


def export_round(store: Store, project_id: int, rnd: int | None = None, out_dir: str | Path | None = None,
                 merged: bool = True) -> dict[str, Path]:
    """Write adapter/, merged/, README.md and approved.jsonl for round `rnd` (default: the best round)."""
    rnd = best_round(store, project_id) if rnd is None else rnd
    run = store.training_runs.get(project_id, rnd)
    if run is None or not run["checkpoint"] or not Path(run["checkpoint"]).exists():
        raise StoreError(f"Round {rnd} of project {store.projects.name_of(project_id)!r} has no checkpoint to "
                         "export.")
    check_checkpoint(run["checkpoint"], run["checkpoint_sha256"],
                     f"round {rnd} of {store.projects.name_of(project_id)!r}")
    cfg = store.projects.config(project_id)
    out = (Path(out_dir) if out_dir else store.project_dir(project_id) / "exports" / f"round-{rnd}").resolve()
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise StoreError(f"{out} exists and is not an earlier ELAD export; choose an empty or new folder, so that "
                         "nothing of yours is overwritten.")
    if out.parent == out:
        raise StoreError(f"{out} cannot be an export folder; choose a new folder.")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    paths: dict[str, Path] = {}
    ckpt = Path(run["checkpoint"])
    (tmp / MARKER).write_text(f"ELAD Studio export of project {store.projects.name_of(project_id)!r}, round {rnd}\n")
    style = export_style(store, project_id, ckpt)
    paths.update(_weights(store, cfg, run, ckpt, tmp, out, merged, style))
    paths["style"] = out / STYLE_FILE
    style.save(tmp)
    samples = store.revisions.training_samples(project_id, rnd)
    task = task_for(cfg.task)
    teachers = store.revisions.training_teachers(project_id, rnd)
    with open(tmp / "approved.jsonl", "w", encoding="utf-8") as f:
        for example, text in samples:
            record = style.training_record(None, example.id, task.student_text(example), text)
            teacher = teachers.get(example.id, "")  # which teacher wrote it; a simulated one is marked as such
            record.update(teacher=teacher, simulated=TeacherKind.simulated_name(teacher))
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    paths["dataset"] = out / "approved.jsonl"
    (tmp / "README.md").write_text(model_card(store, project_id, rnd, len(samples), style), encoding="utf-8")
    paths["card"] = out / "README.md"
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    paths["folder"] = out
    return paths


def _weights(store: Store, cfg, run, ckpt: Path, tmp: Path, out: Path, merged: bool,
             style: PromptStyle) -> dict[str, Path]:
    """adapter/ (LoRA) and merged/ (base + adapter, or the fully fine-tuned model), each with its prompt style."""
    paths = {}
    if run["method"] == "lora":
        shutil.copytree(ckpt, tmp / "adapter")
        style.save(tmp / "adapter")
        base_path = _base_folder(store, cfg, run)
        conf_path = tmp / "adapter" / "adapter_config.json"
        conf = json.loads(conf_path.read_text(encoding="utf-8"))
        conf["base_model_name_or_path"] = portable_base(base_path)  # not this server's path
        ref = parse_hub_id(base_path)
        if ref is not None and ref.pinned:  # a student named by its hub id: the commit it was trained on
            conf["revision"] = ref.revision
        conf_path.write_text(json.dumps(conf, indent=2) + "\n", encoding="utf-8")
        (tmp / "adapter" / "README.md").write_text(adapter_card(
            conf["base_model_name_or_path"], base_path, conf, style,
            f"{store.projects.name_of(run['project_id'])}, round {run['round']}"), encoding="utf-8")
        paths["adapter"] = out / "adapter"
        if merged:
            from .student.model import Student
            student = Student.load(base_path, adapter=str(ckpt), device="cpu",
                                   dtype="float32")  # an inference load folds the adapter into the weights
            student.model.save_pretrained(tmp / "merged")
            student.tokenizer.save_pretrained(tmp / "merged")
            style.save(tmp / "merged")
            paths["merged"] = out / "merged"
    else:
        shutil.copytree(ckpt, tmp / "merged")
        style.save(tmp / "merged")
        paths["merged"] = out / "merged"
    return paths


def _base_folder(store: Store, cfg, run) -> str:
    """The base student the round was trained on: the hub id at the commit its checkpoint recorded, else the
    project's student.path resolved (a model folder)."""
    from .student.gguf import model_folder

    recorded = (run or {}).get("base_model") or ""
    if parse_hub_id(recorded):
        return recorded
    ref = parse_hub_id(cfg.student.path)
    if ref is not None:  # trained before checkpoints recorded their base: the project's pinned commit
        source = store.projects.student_source(run["project_id"]) if run else None
        return str(ref.at(source["commit"])) if source and source.get("path") == cfg.student.path else str(ref)
    return model_folder(store, cfg.student.path)


def zip_folder(folder: str | Path) -> Path:
    """A zip of an export subfolder (adapter/ or merged/) beside it, rebuilt only when the folder is newer."""
    folder = Path(folder).resolve()
    target = folder.with_suffix(".zip")
    newest = max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime)
    if not target.exists() or target.stat().st_mtime < newest:
        tmp = shutil.make_archive(str(folder) + ".partial", "zip", root_dir=folder.parent, base_dir=folder.name)
        Path(tmp).replace(target)
    return target


def exports(store: Store, project_id: int) -> list[dict]:
    """The project's finished exports (default folders), newest round first."""
    root = store.project_dir(project_id) / "exports"
    out = []
    found = [(int(d.name[6:]), d) for d in root.glob("round-*") if d.name[6:].isdigit() and (d / MARKER).exists()]
    for rnd, d in sorted(found, reverse=True):
        if d.is_dir():
            out.append({"round": rnd, "folder": d,
                        "parts": {name: d / name for name in PARTS if (d / name).exists()}})
    return out
