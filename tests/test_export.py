"""Export: adapter, merged model loadable with plain transformers, model card, chat-format data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from conftest import tiny_project
from elad_engine.config import ProjectConfig
from elad_engine.errors import StoreError
from elad_engine.export import best_round, export_round, gguf_files
from elad_engine.rounds.loop import RoundRunner
from elad_engine.store import Store
from elad_engine.student.model import Student
from elad_engine.student.prompt_style import PromptStyle


def _front(card: str) -> dict:
    """The YAML front matter of a model card, as a hub reads it."""
    assert card.startswith("---\n"), card[:80]
    return yaml.safe_load(card[4:card.index("\n---\n", 4)])


def _code_blocks(card: str, lang: str = "python") -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", card, re.DOTALL)


@pytest.fixture
def no_gguf_tools(tmp_path, monkeypatch):
    """An empty tools folder: the export must report GGUF unavailable whatever this machine has installed."""
    monkeypatch.setenv(gguf_files.TOOLS_ENV, str(tmp_path / "no-tools"))


def test_export_round(tiny_model_dir, workspace, no_gguf_tools):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir)
    RoundRunner(store, pid).run()
    paths = export_round(store, pid, 1)
    folder = paths["folder"]
    assert sorted(p.name for p in folder.iterdir()) == [".elad-export", "README.md", "adapter", "approved.jsonl",
                                                         "merged", "prompt_style.json"]
    assert (folder / "adapter" / "adapter_config.json").is_file()
    for part in ("adapter", "merged", "."):  # whoever loads any part knows how to prompt it
        assert PromptStyle.load(folder / part) == PromptStyle("completion")

    merged = AutoModelForCausalLM.from_pretrained(folder / "merged")
    from peft import PeftModel
    adapted = PeftModel.from_pretrained(Student.load(str(tiny_model_dir)).model, str(folder / "adapter"))
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)

    card = (folder / "README.md").read_text()
    front = _front(card)
    accuracy = next(m for m in store.metrics.list(pid) if m["round"] == 1)["accuracy"]
    assert front["library_name"] == "transformers" and "base_model" not in front  # a local folder: no hub id
    assert front["model-index"][0]["results"][0]["metrics"][0]["value"] == round(accuracy, 4)
    assert "self-contained" in card and "not available: `make gguf-tools`" in card
    assert (folder / "merged" / "README.md").read_text() == card  # a hub upload of merged/ alone has its card
    assert "| round | accuracy |" in card and "synthetic-test" in card
    lines = [json.loads(x) for x in (folder / "approved.jsonl").read_text().splitlines()]
    assert len(lines) == 8
    # the completion style: prompt and completion records (chat projects write system/user/assistant messages)
    assert sorted(lines[0]) == ["completion", "id", "prompt", "simulated", "teacher"]
    assert lines[0]["prompt"].startswith("Question: ") and (lines[0]["teacher"], lines[0]["simulated"]) == (
        "oracle", True)  # the demo's oracle computed it: marked so
    assert lines[0]["prompt"].endswith("\nAnswer:\n") and lines[0]["completion"].rstrip().endswith(".")
    assert "Completion (a plain text scaffold)" in card
    assert best_round(store, pid) in (0, 1)
    assert not list(folder.parent.glob("*.partial"))


def test_an_adapter_of_a_local_folder_names_no_base_and_its_card_says_use_merged(tiny_model_dir, workspace,
                                                                                 no_gguf_tools):
    """Issue 29.1: the adapter's base was "tiny-student" (a folder name the hub does not know): now none, and the
    cards say the merged folder is the self-contained form."""
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir)
    RoundRunner(store, pid).run()
    folder = export_round(store, pid, 1, merged=False)["folder"]
    conf = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] is None and "revision" not in conf
    card = (folder / "adapter" / "README.md").read_text()
    assert "[More Information Needed]" not in card and f"Rank {conf['r']}" in card
    assert _front(card)["library_name"] == "peft" and "base_model" not in _front(card)
    assert "cannot be loaded by name elsewhere" in card
    assert _front((folder / "README.md").read_text())["library_name"] == "peft"  # no merged folder: the adapter


def test_no_exported_text_file_holds_a_path_of_this_machine(tiny_pretrained_dir, workspace, tmp_path, no_gguf_tools):
    """Issue 29.1: the cards named the bundled student's folder and the dataset's path under the workspace."""
    from conftest import REPO
    from elad_engine.projects import import_file
    store = Store(workspace)
    data = tmp_path / "uploads" / "gsm8k_sample.jsonl"
    data.parent.mkdir()
    data.write_text((REPO / "tests" / "data" / "gsm8k_sample.jsonl").read_text())
    pid, _ = import_file(store, "g", data, preset="gsm8k", config=ProjectConfig().with_overrides(**{
        "student.path": str(tiny_pretrained_dir), "student.max_new_tokens": 24, "student.probe_max_tokens": 3,
        "uncertainty.samples": 1, "rounds.warmup": 4, "rounds.rounds": 0, "training.epochs": 1,
        "training.batch_size": 4, "review.policy": "auto-approve", "teacher.kind": "reference",
        "evaluation.max_examples": 4}))
    assert RoundRunner(store, pid).run().stop_reason == "completed"
    folder = export_round(store, pid, 0)["folder"]
    machine = {str(p) for p in (workspace.resolve(), REPO, tiny_pretrained_dir.resolve(), data.parent.resolve(),
                                tmp_path.resolve())} | {str(p.parent) for p in (REPO, tmp_path.resolve())}
    found = []
    for f in folder.rglob("*"):
        try:
            text = f.read_text(encoding="utf-8") if f.is_file() else ""
        except UnicodeDecodeError:
            continue  # weights
        found += [f"{f.relative_to(folder)}: {m}" for m in machine if m in text]
    assert found == []
    front = _front((folder / "README.md").read_text())
    assert front["datasets"] == ["gsm8k"] and front["model-index"][0]["results"][0]["dataset"]["name"] == "gsm8k"
    assert "`gsm8k_sample.jsonl`" in (folder / "README.md").read_text()  # the file's name, not where it lay


def test_the_merged_model_is_written_in_the_dtype_it_trained_in(tiny_model_dir, workspace, no_gguf_tools):
    """Issue 29.2: merged/ was float32 whatever the student trained in; a bfloat16 round exports bfloat16, half the
    bytes, with its dtype in config.json under both names, loadable as it is."""
    from safetensors import safe_open
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"student.dtype": "bfloat16", "rounds.rounds": 0})
    RoundRunner(store, pid).run()
    assert store.training_runs.get(pid, 0)["dtype"] == "bfloat16"
    folder = export_round(store, pid, 0)["folder"]
    config = json.loads((folder / "merged" / "config.json").read_text())
    assert (config["dtype"], config["torch_dtype"]) == ("bfloat16", "bfloat16")
    with safe_open(str(folder / "merged" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    model = AutoModelForCausalLM.from_pretrained(folder / "merged")
    assert model.dtype == torch.bfloat16
    student = Student.load(str(folder / "merged"))
    assert student.tokenizer is not None and PromptStyle.load(folder / "merged") is not None


def test_the_cards_transformers_snippet_runs_as_written(tiny_model_dir, workspace, no_gguf_tools):
    """Issue 29.4: each snippet runnable as written, in the export folder."""
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"rounds.rounds": 0})
    RoundRunner(store, pid).run()
    folder = export_round(store, pid, 0)["folder"]
    blocks = _code_blocks((folder / "README.md").read_text())
    assert len(blocks) == 1 and "AutoModelForCausalLM.from_pretrained(\"merged\")" in blocks[0]
    run = subprocess.run([sys.executable, "-c", blocks[0]], cwd=folder, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]


def test_gguf_asked_for_where_the_tools_are_missing_is_refused_before_anything_is_written(
        tiny_model_dir, workspace, no_gguf_tools, tmp_path):
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir, **{"rounds.rounds": 0})
    RoundRunner(store, pid).run()
    out = tmp_path / "out"
    with pytest.raises(StoreError, match="not available: `make gguf-tools`"):
        export_round(store, pid, 0, out, gguf=True)
    assert not out.exists() and not (tmp_path / "out.partial").exists()
    assert "no convert_hf_to_gguf.py" in gguf_files.unavailable()  # the page and the CLI say what is missing
    folder = export_round(store, pid, 0, out, gguf=False)["folder"]
    assert "left out (--no-gguf)" in (folder / "README.md").read_text()
    assert not list(folder.glob("*.gguf")) and not (folder / "Modelfile").exists()


def test_a_registered_students_hub_id_and_licence_are_its_exports_base(workspace, tmp_path):
    """A GGUF registration records the hub id given with --base-model-id (never a path) and the file's licence."""
    import gguf

    from elad_engine.errors import StudentError
    from elad_engine.student.gguf import gguf_license
    from elad_engine.student.hub import check_repo_id as check_base_model_id
    from elad_engine.student.provenance import BaseModel, base_model_of
    assert check_base_model_id("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert check_base_model_id(None) is None and check_base_model_id(" ") is None
    for bad in ("/models/smollm2", "smollm2", "./org/name", "org/name/extra", "org/name@main"):
        with pytest.raises(StudentError, match="is not a Hugging Face id"):
            check_base_model_id(bad)
    file = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(file), "llama")
    writer.add_license("apache-2.0")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    assert gguf_license(file) == "apache-2.0" and gguf_license(tmp_path / "missing.gguf") is None
    store = Store(workspace)
    folder = tmp_path / "converted"
    folder.mkdir()
    store.students.add("smol", "Smol", folder, str(file), "0" * 64, 1, "HuggingFaceTB/SmolLM2-135M-Instruct",
                       "apache-2.0")
    assert base_model_of(store, "student:smol") == BaseModel("HuggingFaceTB/SmolLM2-135M-Instruct", None,
                                                             "apache-2.0", from_gguf=True)
