"""Write an export of a round's student: the adapter, the merged model in the dtype it was trained in, GGUF files
and an Ollama Modelfile (where llama.cpp's tools are installed), the model cards, the prompt style and the approved
data as chat-format JSONL. `python -m elad_engine export --project NAME [--round N] [--no-gguf]` (default: the best
round). It is written beside the target as `.partial` and renamed whole, and holds no path of this machine.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from ..errors import StoreError
from ..modes import TeacherKind
from ..store import Store
from ..student.checkpoint import check_checkpoint
from ..student.hub import parse_hub_id
from ..student.prompt_style import STYLE_FILE, PromptStyle
from ..student.provenance import BaseModel, base_model_of
from ..tasks.registry import task_for
from . import gguf_files
from .cards import CardFacts, adapter_card, model_card
from .modelfile import ModelfileError, modelfile

MARKER = ".elad-export"  # marks a folder this module wrote, the only kind it will ever replace
PARTS = ("adapter", "merged", "README.md", "approved.jsonl", STYLE_FILE, "Modelfile")  # what an export holds


def best_round(store: Store, project_id: int) -> int:
    """The evaluated round with the highest test accuracy (the latest on ties) that has a checkpoint."""
    trained = {r["round"] for r in store.training_runs.list(project_id)}
    rows = [m for m in store.metrics.list(project_id) if m["accuracy"] is not None and m["round"] in trained]
    if not rows:
        raise StoreError(f"Project {store.projects.name_of(project_id)!r} has no trained and evaluated round to export "
                         "yet.")
    return max(rows, key=lambda m: (m["accuracy"], m["round"]))["round"]


def export_style(store: Store, project_id: int, checkpoint: Path) -> PromptStyle:
    """The prompt style the checkpoint was trained with (saved beside it), else the project's, else completion."""
    saved = PromptStyle.load(checkpoint)
    if saved is not None:
        return saved
    stored = store.projects.prompt_style(project_id)
    return PromptStyle.from_dict(stored["style"]) if stored else PromptStyle("completion")


def export_round(store: Store, project_id: int, rnd: int | None = None, out_dir: str | Path | None = None,
                 merged: bool = True, gguf: bool | None = None) -> dict[str, Path]:
    """Write the export of round `rnd` (default: the best round). `gguf`: None writes the GGUF files and the
    Modelfile where llama.cpp's tools are installed (and says why not in the card where they are not), True
    requires them, False leaves them out."""
    rnd = best_round(store, project_id) if rnd is None else rnd
    name = store.projects.name_of(project_id)
    run = store.training_runs.get(project_id, rnd)
    if run is None or not run["checkpoint"] or not Path(run["checkpoint"]).exists():
        raise StoreError(f"Round {rnd} of project {name!r} has no checkpoint to export.")
    gguf_missing = gguf_files.unavailable() if gguf is not False else "left out (--no-gguf)"
    if gguf and (gguf_missing or not merged):
        raise StoreError(f"GGUF export {gguf_missing or 'needs the merged model: drop --no-merged'}.")
    check_checkpoint(run["checkpoint"], run["checkpoint_sha256"], f"round {rnd} of {name!r}")
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
    ckpt = Path(run["checkpoint"])
    (tmp / MARKER).write_text(f"ELAD Studio export of project {name!r}, round {rnd}\n")
    style = export_style(store, project_id, ckpt)
    facts = _facts(store, project_id, rnd, cfg, run, style)
    written = _weights(store, cfg, run, ckpt, tmp, merged, style, facts)
    card_note = gguf_files.UNAVAILABLE if gguf_missing and gguf is not False else (gguf_missing or "")
    facts = replace(facts, parts=frozenset(written), gguf_note=card_note)  # no path in it
    if merged and not gguf_missing:
        try:
            facts = _gguf(tmp, run, style, facts)
        except gguf_files.GgufError as e:
            if gguf:  # asked for: the export fails, rather than ship without what was asked
                raise
            for part in [*tmp.glob("model-*.gguf"), tmp / "Modelfile"]:  # asked "where possible": the rest ships
                part.unlink(missing_ok=True)
            facts = replace(facts, gguf_note=gguf_files.without_paths(str(e), tmp))
    style.save(tmp)
    _approved_data(store, project_id, rnd, cfg, style, tmp, facts.training_samples)
    _cards(tmp, facts)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return _paths(out)


def _paths(out: Path) -> dict[str, Path]:
    """The parts of a finished export folder, by what they are."""
    names = {"adapter": "adapter", "merged": "merged", "style": STYLE_FILE, "dataset": "approved.jsonl",
             "card": "README.md", "modelfile": "Modelfile"}
    paths = {key: out / part for key, part in names.items() if (out / part).exists()}
    paths.update({f"gguf {p.stem.split('-', 1)[1]}": p for p in sorted(out.glob("model-*.gguf"))})
    paths["folder"] = out
    return paths


def _facts(store: Store, project_id: int, rnd: int, cfg, run, style: PromptStyle) -> CardFacts:
    """What the cards say, gathered from the store; StoreError when the round was not evaluated yet."""
    name = store.projects.name_of(project_id)
    metrics = store.metrics.list(project_id)
    row = next((m for m in metrics if m["round"] == rnd), None)
    if row is None or row["accuracy"] is None:
        raise StoreError(f"Round {rnd} of project {name!r} was trained but not evaluated yet: run `round` to finish "
                         "it, then export.")
    samples = store.revisions.training_samples(project_id, rnd)
    task = task_for(cfg.task)
    sources = tuple(f"`{Path(i['source']).name}`: {i['rows']} rows, imported "
                    f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(i['created_at']))} UTC"
                    for i in store.projects.imports(project_id))
    return CardFacts(project=name, round=rnd, cfg=cfg, base=_base_model(store, cfg, run), style=style,
                     method=run["method"], metrics=metrics, training_samples=samples, sources=sources,
                     simulated_note=_simulated_note(store, project_id, rnd),
                     example_question=task.student_text(samples[0][0]) if samples else "What is 2 + 3?")


def _base_model(store: Store, cfg, run) -> BaseModel:
    return base_model_of(store, cfg.student.path, (run or {}).get("base_model"))


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


def _approved_data(store: Store, project_id: int, rnd: int, cfg, style: PromptStyle, tmp: Path,
                   samples: list) -> None:
    task = task_for(cfg.task)
    teachers = store.revisions.training_teachers(project_id, rnd)
    with open(tmp / "approved.jsonl", "w", encoding="utf-8") as f:
        for example, text in samples:
            record = style.training_record(None, example.id, task.student_text(example), text)
            teacher = teachers.get(example.id, "")  # which teacher wrote it; a simulated one is marked as such
            record.update(teacher=teacher, simulated=TeacherKind.simulated_name(teacher))
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _cards(tmp: Path, facts: CardFacts) -> None:
    """README.md at the top and in merged/ (a hub upload takes that folder alone); the adapter's own card."""
    card = model_card(facts)
    (tmp / "README.md").write_text(card, encoding="utf-8")
    if (tmp / "merged").is_dir():
        (tmp / "merged" / "README.md").write_text(card, encoding="utf-8")
    conf_path = tmp / "adapter" / "adapter_config.json"
    if conf_path.is_file():
        conf = json.loads(conf_path.read_text(encoding="utf-8"))
        (tmp / "adapter" / "README.md").write_text(adapter_card(facts, conf), encoding="utf-8")


def _weights(store: Store, cfg, run, ckpt: Path, tmp: Path, merged: bool, style: PromptStyle,
             facts: CardFacts) -> list[str]:
    """adapter/ (LoRA) and merged/ (base + adapter, or the fully fine-tuned model), each with its prompt style and
    tokenizer; returns the parts written."""
    from ..student.model import Student, load_tokenizer

    if run["method"] != "lora":
        shutil.copytree(ckpt, tmp / "merged")
        style.save(tmp / "merged")
        _merged_dtype(tmp / "merged", "float32")
        return ["merged"]
    base_path = _base_folder(store, cfg, run)
    shutil.copytree(ckpt, tmp / "adapter")
    style.save(tmp / "adapter")
    conf_path = tmp / "adapter" / "adapter_config.json"
    conf = json.loads(conf_path.read_text(encoding="utf-8"))
    conf["base_model_name_or_path"] = facts.base.repo_id  # the hub id, or None: never this server's path
    conf.pop("revision", None)
    if facts.base.revision:  # a student named by its hub id: the commit it was trained on
        conf["revision"] = facts.base.revision
    conf_path.write_text(json.dumps(conf, indent=2) + "\n", encoding="utf-8")
    if not merged:
        load_tokenizer(base_path).save_pretrained(tmp / "adapter")
        return ["adapter"]
    dtype = run.get("dtype") or "float32"  # rounds trained before schema 11 did not record it: float32 is exact
    # an inference load folds the adapter into the weights, in the dtype the round trained in
    student = Student.load(base_path, adapter=str(ckpt), device="cpu", dtype=dtype)
    student.tokenizer.save_pretrained(tmp / "adapter")
    student.model.save_pretrained(tmp / "merged")
    student.tokenizer.save_pretrained(tmp / "merged")
    style.save(tmp / "merged")
    _merged_dtype(tmp / "merged", dtype)
    return ["adapter", "merged"]


def _merged_dtype(folder: Path, dtype: str) -> None:
    """config.json names the weights' dtype under both keys: `dtype` (transformers 5) and `torch_dtype` (4.x)."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(dtype=dtype, torch_dtype=dtype)
    for key in ("_name_or_path", "_model_name_or_path"):  # where the weights were read: a path of this machine
        config.pop(key, None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _gguf(tmp: Path, run, style: PromptStyle, facts: CardFacts) -> CardFacts:
    """model-<dtype>.gguf, the quantised file and the Modelfile (GgufError when llama.cpp's tools fail); a template
    Ollama cannot express only leaves the Modelfile out, said in the card."""
    from transformers import AutoConfig, AutoTokenizer

    (tmp / "merged" / "README.md").write_text(model_card(facts), encoding="utf-8")  # the converter reads its card
    files = gguf_files.write_gguf(tmp / "merged", tmp, run.get("dtype") or "float32", f"{facts.project}-round-"
                                  f"{facts.round}")
    note = files.note
    tokenizer = AutoTokenizer.from_pretrained(tmp / "merged")
    context = min(4096, getattr(AutoConfig.from_pretrained(tmp / "merged"), "max_position_embeddings", 4096) or 4096)
    try:
        (tmp / "Modelfile").write_text(modelfile(files.quantised.name, tokenizer, style, context,
                                                 f"{facts.project}, round {facts.round}"), encoding="utf-8")
    except ModelfileError as e:
        note = "; ".join(n for n in (note, f"no Ollama Modelfile: {e}") if n)
    return replace(facts, gguf_files=(files.unquantised.name, files.quantised.name), gguf_note=note)


def _base_folder(store: Store, cfg, run) -> str:
    """The base student the round was trained on: the hub id at the commit its checkpoint recorded, else the
    project's student.path resolved (a model folder)."""
    from ..student.gguf import model_folder

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
            parts = {name: d / name for name in PARTS if (d / name).exists()}
            parts.update({g.name: g for g in sorted(d.glob("model-*.gguf"))})
            out.append({"round": rnd, "folder": d, "parts": parts})
    return out
