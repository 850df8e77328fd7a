"""Export: adapter, merged model loadable with plain transformers, model card, chat-format data."""

from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM

from conftest import tiny_project
from elad_engine.export import best_round, export_round
from elad_engine.rounds.loop import RoundRunner
from elad_engine.store import Store
from elad_engine.student.model import Student
from elad_engine.student.prompt_style import PromptStyle


def test_export_round(tiny_model_dir, workspace):
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
    assert card.startswith("---\nlibrary_name: \"peft\"\n")
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


def test_the_exported_adapter_names_a_portable_base_and_has_a_real_card(tiny_model_dir, workspace):
    """Issue 17.9: base_model_name_or_path was this server's absolute path, and adapter/README.md was peft's
    template full of "[More Information Needed]"."""
    from elad_engine.export import portable_base
    store = Store(workspace)
    pid = tiny_project(store, tiny_model_dir)
    RoundRunner(store, pid).run()
    folder = export_round(store, pid, 1, merged=False)["folder"]
    conf = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == tiny_model_dir.name and "/" not in conf["base_model_name_or_path"]
    card = (folder / "adapter" / "README.md").read_text()
    assert "[More Information Needed]" not in card and "PeftModel.from_pretrained" in card
    assert f"base_model: \"{tiny_model_dir.name}\"" in card and f"Rank {conf['r']}" in card
    assert f"base_model: \"{tiny_model_dir.name}\"" in (folder / "README.md").read_text()
    hub = workspace.parent / "hub-copy"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps({"_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}))
    assert portable_base(hub) == "HuggingFaceTB/SmolLM2-135M-Instruct"  # a hub id is kept as the name
    (hub / "config.json").write_text(json.dumps({"_name_or_path": str(hub)}))
    assert portable_base(hub) == "hub-copy"
