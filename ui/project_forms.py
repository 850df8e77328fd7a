"""The Projects page's two forms: a dataset import with column mapping and preview, and a project's settings in
tabs (widgets built from the config fields' own documentation, ranges and choices; labels in words, the config key
in the help)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from elad_engine.service import PRESETS, EladError
from ui.engine import select_project, show_error, studio

SETTINGS = {  # the settings form's tabs and their fields, in order
    "Student": ["student.path", "student.adapter", "student.prompt_style", "student.few_shot"],
    "Teacher": ["teacher.kind", "teacher.model", "teacher.base_url", "teacher.api_key_env", "teacher.annotation",
                "teacher.show_gold", "teacher.max_tokens", "teacher.price_as", "teacher.concurrency"],
    "Selection and budgets": ["selection.strategy", "selection.round_budget", "rounds.rounds", "rounds.warmup",
                              "rounds.budget_tokens", "rounds.budget_dollars", "rounds.allow_misfit"],
    "Review": ["review.policy"],
    "Training": ["training.method", "training.epochs", "training.learning_rate", "training.batch_size",
                 "training.lora_r", "training.lora_alpha", "training.lora_dropout", "training.target_modules",
                 "training.precision", "training.max_length"],
    "Compute": ["compute.processes", "compute.accelerate_config"],
}


def file_source(key: str):
    """The file to import: an upload saved under the workspace, or a path on the server."""
    how = st.radio("Source", ["Upload a file", "A path on the server"], horizontal=True, key=f"{key}-how")
    if how == "Upload a file":
        up = st.file_uploader("Dataset (JSONL, CSV, Parquet, JSON array)", key=f"{key}-up",
                              type=["jsonl", "json", "csv", "parquet"])
        if up is None:
            return None
        try:
            return studio().projects.save_upload(up.name, up.getvalue())
        except EladError as e:
            show_error(str(e))
            return None
    path = st.text_input("Path on the server", key=f"{key}-path", placeholder="../shared/datasets/gsm8k/test.jsonl")
    return path.strip() or None


def _mapping_fields(key: str, preset: str | None) -> dict:
    """The column mapping typed in; with a preset, only the fields filled in (they replace the preset's), under
    keys of their own so that what was typed for a plain mapping does not carry over."""
    blank = preset is not None
    key = f"{key}-over" if blank else key
    m1, m2, m3, m4 = st.columns(4)
    fields = {
        "question": m1.text_input("Question column or template", "" if blank else "question", key=f"{key}-q",
                                  help="A column, a dotted path (question.stem) or a template: {Body} {Question}"),
        "answer": m2.text_input("Answer column", "" if blank else "answer", key=f"{key}-a"),
        "choices": m3.text_input("Choices column", "", key=f"{key}-c",
                                 help="A list of strings or of {label, text} objects; letters are added"),
        "rationale": m4.text_input("Rationale column", "", key=f"{key}-r", help="Text, or a list of steps"),
    }
    m5, m6, m7, m8 = st.columns(4)
    fields |= {"id": m5.text_input("Id column", "", key=f"{key}-id"),
               "split": m6.text_input("Split column", "", key=f"{key}-s", help="pool/train or test/validation/dev"),
               "difficulty": m7.text_input("Difficulty column", "", key=f"{key}-d")}
    label_map = m8.text_input("Label map", "", key=f"{key}-lm", placeholder="true=yes,false=no")
    out = {k: v.strip() for k, v in fields.items() if v.strip()}
    if label_map.strip():
        out["label_map"] = studio().projects.parse_label_map(label_map)
    if st.checkbox("Pool rows may have no gold answer (the teacher answers them)", key=f"{key}-nogold"):
        out["gold_optional"] = True
    return out


def import_form(key: str = "imp") -> None:
    path = file_source(key)
    c1, c2, c3, c4 = st.columns(4)
    project = c1.text_input("Project name", key=f"{key}-name", placeholder="gsm8k")
    picked = c2.selectbox("Preset", ["(column mapping)", *PRESETS], key=f"{key}-preset",
                          format_func=lambda p: p if p not in PRESETS else f"{p} ({PRESETS[p].answer_type})")
    preset = None if picked == "(column mapping)" else picked
    types = ["number", "choice", "label", "text"]
    if preset:  # the preset's own answer type, shown and fixed
        answer_type = c3.selectbox("Answer type", [PRESETS[preset].answer_type], key=f"{key}-atype-preset",
                                   disabled=True)
    else:
        answer_type = c3.selectbox("Answer type", types, key=f"{key}-atype")
    file_format = c4.selectbox("Format", ["(from the extension)", "jsonl", "json", "csv", "parquet"],
                               key=f"{key}-fmt")
    try:
        if preset:
            with st.expander("Column mapping on top of the preset (blank keeps the preset's)"):
                mapping = _mapping_fields(key, preset)
        else:
            mapping = _mapping_fields(key, None)
    except EladError as e:
        show_error(str(e))
        return
    fraction = st.slider("Test fraction (when the file has no split column)", 0.0, 0.9, 0.2, 0.05, key=f"{key}-tf")
    if path is None:
        st.caption("Choose a file to see a preview.")
        return
    kwargs = dict(mapping=mapping, preset=preset, answer_type=None if preset else answer_type, test_fraction=fraction,
                  file_format=None if file_format.startswith("(") else file_format)
    try:
        examples, problems = studio().projects.preview_file(path, **kwargs)
    except EladError as e:
        show_error(str(e))
        return
    if problems:
        st.error(f"This file would be refused: {len(problems)} problem(s). Nothing is imported until it is fixed.")
        st.dataframe(pd.DataFrame({"problem": problems}), hide_index=True, width="stretch")
        return
    counts = pd.Series([e.split for e in examples]).value_counts().to_dict()
    st.success(f"{len(examples)} rows parse cleanly ({', '.join(f'{k}: {v}' for k, v in counts.items())}).")
    st.dataframe(pd.DataFrame([{"id": e.id, "split": e.split, "question": e.question, "answer": e.answer,
                                "choices": " | ".join(e.choices or []), "rationale": e.rationale or ""}
                               for e in examples[:20]]),
                 hide_index=True, width="stretch")
    if st.button("Import", type="primary", disabled=not project.strip(), key=f"{key}-go"):
        try:
            _, n = studio().projects.import_file(project.strip(), path, **kwargs)
        except EladError as e:
            show_error(str(e))
            return
        select_project(project.strip())
        st.success(f"Imported {n} rows into {project.strip()!r}.")
        st.rerun()


OTHER_STUDENT = "(a Hugging Face id, or a folder or .gguf file on the server)"


# The settings' labels in words; each widget's help gives the documentation and the config key.
LABELS = {"student.path": "Student model", "student.adapter": "Starting adapter (optional)",
          "student.prompt_style": "Prompt style", "student.few_shot": "Worked exemplars in the prompt (-1: auto)",
          "teacher.kind": "Teacher", "teacher.model": "Teacher model", "teacher.base_url": "Endpoint URL",
          "teacher.api_key_env": "API key environment variable", "teacher.annotation": "Teacher writes",
          "teacher.show_gold": "Show the gold answer to the teacher", "teacher.max_tokens": "Longest teacher reply "
          "(tokens)", "teacher.price_as": "Price simulated teachers as", "teacher.concurrency": "Teacher calls at once",
          "selection.strategy": "Selection strategy", "selection.round_budget": "Samples to the teacher per round",
          "rounds.rounds": "Rounds after the warm-up", "rounds.warmup": "Warm-up samples (fully annotated)",
          "rounds.budget_tokens": "Teacher token budget (0: no limit)",
          "rounds.budget_dollars": "Teacher dollar budget (0: no limit)", "review.policy": "Who decides revisions",
          "training.epochs": "Training epochs per round", "training.learning_rate": "Learning rate",
          "compute.processes": "Processes (GPUs) per round", "compute.accelerate_config": "accelerate config file",
          "training.method": "Fine-tuning method", "training.batch_size": "Samples per optimiser step",
          "training.lora_r": "LoRA rank", "training.lora_alpha": "LoRA alpha", "training.lora_dropout": "LoRA dropout",
          "training.target_modules": "Modules that get LoRA adapters", "training.precision": "Precision",
          "training.max_length": "Longest training sample (tokens)",
          "rounds.allow_misfit": "Fit checks to override (experiments only)"}


def _student_widget(value: str, doc: str, key: str) -> str:
    """The registered students by name (`elad student add`, `make real-student`), or any path typed in."""
    choices = studio().students.choices()
    options = [*choices, OTHER_STUDENT]
    index = options.index(value) if value in choices else len(options) - 1
    picked = st.selectbox(LABELS["student.path"], options, index=index,
                          format_func=lambda v: choices.get(v, v), help=doc, key=f"{key}-pick")
    if picked != OTHER_STUDENT:
        return picked
    return st.text_input("Hugging Face id (org/name), or a folder or .gguf file", "" if value in choices else value,
                         help=doc, key=key)


def config_widget(section, name: str, dotted: str, key: str):
    f = next(f for f in dataclasses.fields(section) if f.name == name)
    value, m = getattr(section, name), f.metadata
    label, doc = LABELS.get(dotted, dotted), f"{m['doc']} (config key `{dotted}`)"
    if dotted == "student.path":
        return _student_widget(value, doc, key)
    if m.get("choices"):
        return st.selectbox(label, m["choices"], index=list(m["choices"]).index(value), help=doc, key=key)
    if isinstance(value, bool):
        return st.checkbox(label, value, help=doc, key=key)
    if isinstance(value, int):
        return int(st.number_input(label, min_value=int(m["lo"]) if m["lo"] is not None else None,
                                   max_value=int(m["hi"]) if m["hi"] is not None else None, value=value, step=1,
                                   help=doc, key=key))
    if isinstance(value, float):
        return float(st.number_input(label, min_value=m["lo"], max_value=m["hi"], value=value, help=doc,
                                     format="%g", key=key))
    return st.text_input(label, value, help=doc, key=key)


def settings_form(project_id: int, editable: bool = True) -> None:
    cfg = studio().projects.config(project_id)
    values = {}
    for tab, (title, fields) in zip(st.tabs(list(SETTINGS)), SETTINGS.items()):
        with tab:
            cols = st.columns(3)
            for n, dotted in enumerate(fields):
                sec, name = dotted.split(".")
                with cols[n % 3]:
                    values[dotted] = config_widget(getattr(cfg, sec), name, dotted, key=f"cfg-{project_id}-{dotted}")
            if title == "Teacher":
                prices = pd.DataFrame([{"model": k, "prompt $/M": v[0], "completion $/M": v[1]}
                                       for k, v in cfg.teacher.prices.items()])
                edited = st.data_editor(prices, num_rows="dynamic", hide_index=True, key=f"cfg-{project_id}-prices")
                values["teacher.prices"] = {str(r["model"]): [float(r["prompt $/M"] or 0),
                                                              float(r["completion $/M"] or 0)]
                                            for r in edited.to_dict("records") if str(r.get("model") or "").strip()}
                st.caption(cfg.teacher.price_source())
    b1, b2 = st.columns(2)
    if b1.button("Save settings", type="primary", key=f"cfg-{project_id}-save", disabled=not editable):
        try:
            studio().projects.save_settings(project_id, cfg.with_overrides(**values))
            st.session_state["projects-flash"] = "Saved."
            st.rerun()  # so the projects table and the header show the new settings
        except EladError as e:
            show_error(str(e))
    if b2.button("Test the teacher connection", key=f"cfg-{project_id}-test",
                 disabled=values["teacher.kind"] != "openai" or not editable):
        try:
            st.success(studio().projects.check_teacher(cfg.with_overrides(**values).teacher))
        except EladError as e:
            show_error(str(e))
