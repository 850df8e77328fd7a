"""Prompt styles: completion and chat (the tokenizer's template with a system instruction), with or without worked
exemplars; one style resolved per project and used by explain, probes, training, evaluation and export alike."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import tiny_project
from elad_engine.errors import ConfigError
from elad_engine.export import export_round
from elad_engine.method.reasoning import build_prompt
from elad_engine.method.records import Example
from elad_engine.rounds.loop import RoundRunner
from elad_engine.store import Store
from elad_engine.student.model import Student
from elad_engine.student.probes import branched_probe_answers, naive_token_ids
from elad_engine.student.prompt_style import SYSTEM, Exemplar, PromptStyle, pick_exemplars, style_kind
from elad_engine.tasks.registry import task_for
from elad_engine.tasks.synthetic import generate

Q = "Ann has 3 pens. She finds 2 more. How many pens does Ann have now?"


def test_completion_is_the_scaffold_and_exemplars_come_first():
    assert PromptStyle("completion").render(None, Q) == build_prompt(Q)
    shot = Exemplar("Ben has 1 pen. How many?", "1. 1 + 0 = 1\nThe answer is 1.", "e1")
    text = PromptStyle("completion", exemplars=(shot,)).render(None, Q)
    assert text == build_prompt(shot.question) + shot.explanation + "\n\n" + build_prompt(Q)
    with pytest.raises(ConfigError, match="prompt style 'poem' is unknown"):
        PromptStyle("poem")


def test_chat_uses_the_tokenizer_template_with_the_system_instruction(tiny_chat_model_dir, tiny_model_dir):
    chat_tok, plain_tok = Student.load(str(tiny_chat_model_dir)).tokenizer, Student.load(str(tiny_model_dir)).tokenizer
    shot = Exemplar("Ben has 1 pen. How many?", "1. 1 + 0 = 1\nThe answer is 1.", "e1")
    text = PromptStyle("chat", exemplars=(shot,)).render(chat_tok, Q)
    assert text == (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{shot.question}<|im_end|>\n"
                    f"<|im_start|>assistant\n{shot.explanation}<|im_end|>\n<|im_start|>user\n{Q}<|im_end|>\n"
                    "<|im_start|>assistant\n")
    assert style_kind("auto", chat_tok) == "chat" and style_kind("auto", plain_tok) == "completion"
    with pytest.raises(ConfigError, match="needs a tokenizer with a chat template"):
        PromptStyle("chat").render(plain_tok, Q)
    record = PromptStyle("chat", exemplars=(shot,)).training_record(chat_tok, "x", Q, "1. 3 + 2 = 5\nThe answer is 5.")
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    style = PromptStyle("chat", exemplars=(shot,))
    assert PromptStyle.from_dict(json.loads(json.dumps(style.to_dict()))) == style


def test_exemplars_are_gold_rationales_in_the_format_drawn_once():
    pool = generate(30, 4) + [Example("n1", "no rationale?", "3")]
    shots = pick_exemplars(pool, 3, seed=0)
    assert len(shots) == 3 and shots == pick_exemplars(list(reversed(pool)), 3, seed=0)  # not the import order
    assert all(task_for("number").follows_format(s.explanation) and s.example_id != "n1" for s in shots)
    with pytest.raises(ConfigError, match="student.few_shot = 40 needs 40 pool examples with a gold rationale"):
        pick_exemplars(pool, 40, seed=0)


def test_branched_probes_equal_naive_on_a_llama_with_chat_prompts(tiny_chat_model_dir):
    student = Student.load(str(tiny_chat_model_dir))
    style = PromptStyle("chat", exemplars=(Exemplar("Ben has 1 pen.", "1. 1 + 0 = 1\nThe answer is 1."),))
    items = [(style.render(student.tokenizer, e.question), ["x = 1", "y = 2"][:n])
             for n, e in enumerate(generate(3, 8))]
    got = branched_probe_answers(student, items, max_new_tokens=4, batch_size=4)
    want = []
    for prompt, steps in items:
        row = []
        for k in range(len(steps) + 1):
            ids = torch.tensor([naive_token_ids(student.tokenizer, prompt, steps, k)])
            gen = student.model.generate(ids, max_new_tokens=4, do_sample=False,
                                         pad_token_id=student.tokenizer.pad_token_id,
                                         eos_token_id=student.tokenizer.eos_token_id)
            row.append(student.tokenizer.decode(gen[0, ids.shape[1]:], skip_special_tokens=True).split("\n")[0]
                       .split(". ")[0].strip().rstrip("."))
        want.append(row)
    assert [len(g) for g in got] == [1, 2, 3] and got == want


def test_a_chat_student_runs_rounds_in_its_style_and_exports_it(tiny_chat_model_dir, workspace):
    """Warm-up plus a round on a tiny Llama with a chat template and 2 exemplars: the chat style is resolved once and
    stored, the exemplars leave the pool, compliance and tokens are recorded, and the export says how to prompt."""
    store = Store(workspace)
    pid = tiny_project(store, tiny_chat_model_dir, **{"student.few_shot": 2})
    assert RoundRunner(store, pid).run().stop_reason == "completed"
    stored = store.projects.prompt_style(pid)
    style = PromptStyle.from_dict(stored["style"])
    assert stored["requested"] == {"prompt_style": "auto", "few_shot": 2}
    assert style.kind == "chat" and len(style.exemplars) == 2
    shots = {e.example_id for e in style.exemplars}
    assert not shots & store.selections.labelled_ids(pid)  # never sent to the teacher
    assert not shots & store.explanations.explained_ids(pid, 1)  # nor explained as pool questions
    m0, m1 = store.metrics.list(pid)
    assert m0["base_format_ok"] is not None and m1["pool_format_ok"] is not None and m1["format_ok"] is not None
    phases = {p["phase"]: p for p in store.phases.list(pid, 1)}
    assert phases["explain"]["tokens"] > 0 and phases["train"]["tokens"] > 0 and phases["evaluate"]["tokens"] > 0
    assert "format followed by" in phases["explain"]["detail"]
    assert PromptStyle.load(store.training_runs.get(pid, 1)["checkpoint"]) == style
    folder = export_round(store, pid, 1)["folder"]
    line = json.loads((folder / "approved.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in line["messages"]] == ["system"] + ["user", "assistant"] * 3
    assert PromptStyle.load(folder / "merged") == style and "Chat (the tokenizer's own chat template)" in (
        folder / "README.md").read_text()
