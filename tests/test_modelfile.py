"""The Ollama Modelfile of an export (issue 29.3): its TEMPLATE, rendered by Go's own text/template (what Ollama runs)
for the conversation Ollama builds (SYSTEM, the MESSAGE turns, the question), equals the tokenizer's chat template
output for the saved prompt style; the completion scaffold likewise; a template that cannot be taken apart is
refused by name. Go comes from Debian's golang-go (.ci/run installs it); without it the rendering tests skip."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from transformers import AutoTokenizer

from conftest import REPO
from elad_engine.export.modelfile import ModelfileError, chat_pieces, modelfile
from elad_engine.student.prompt_style import Exemplar, PromptStyle

RENDER = REPO / "tests" / "data" / "ollama_render.go"
needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install "
                                                                  "golang-go; .ci/run installs it)")
STYLE = PromptStyle("chat", exemplars=(
    Exemplar("Tom has 3 apples and buys 2 more. How many apples?", "1. 3 + 2 = 5\nThe answer is 5.", "e1"),
    Exemplar('A "quoted" {{ brace }} question\\ with a backslash?', "1. It is 7.\nThe answer is 7.", "e2")))
QUESTION = "Sara had 10 pens and gave away 4. How many are left?"


def _parts(text: str) -> dict:
    """TEMPLATE, SYSTEM and the MESSAGE turns of a Modelfile, unquoted as Ollama's parser reads them."""
    quoted = r'"""(.*?)"""'
    return {"template": re.search(rf"^TEMPLATE {quoted}", text, re.M | re.S).group(1),
            "system": (re.search(rf"^SYSTEM {quoted}", text, re.M | re.S) or [None, None])[1],
            "messages": [{"Role": r, "Content": c}
                         for r, c in re.findall(rf"^MESSAGE (\w+) {quoted}", text, re.M | re.S)],
            "stops": [json.loads(s) for s in re.findall(r"^PARAMETER stop (.*)$", text, re.M)]}


def _go_render(tmp_path, template: str, data: dict) -> str:
    env = dict(os.environ, GOCACHE=str(tmp_path / "gocache"), GOPATH=str(tmp_path / "gopath"), GOFLAGS="-mod=mod",
               GO111MODULE="off")
    done = subprocess.run(["go", "run", str(RENDER)], input=json.dumps({"template": template, "data": data}),
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_go
def test_the_chat_template_rendered_by_go_equals_the_tokenizers(tiny_pretrained_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_pretrained_dir)
    text = modelfile("model-Q4_K_M.gguf", tokenizer, STYLE, 2048, "p, round 1")
    parts = _parts(text)
    assert text.splitlines()[2] == "FROM ./model-Q4_K_M.gguf"
    assert parts["system"] == STYLE.system and len(parts["messages"]) == 2 * len(STYLE.exemplars)
    assert parts["stops"] == ["<|im_end|>"] and "PARAMETER num_ctx 2048" in text
    assert "PARAMETER temperature 0\nPARAMETER repeat_penalty 1\n" in text  # greedy, as the engine answers
    # Ollama puts SYSTEM first, then the MESSAGE turns, then the question, into .Messages
    messages = [{"Role": "system", "Content": parts["system"]}, *parts["messages"], {"Role": "user",
                                                                                     "Content": QUESTION}]
    expected = tokenizer.apply_chat_template(STYLE.messages(QUESTION), tokenize=False, add_generation_prompt=True)
    assert _go_render(tmp_path, parts["template"], {"Messages": messages}) == expected


@needs_go
def test_the_completion_scaffold_rendered_by_go_equals_the_prompt_style(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    style = PromptStyle("completion", exemplars=STYLE.exemplars)
    parts = _parts(modelfile("model-Q8_0.gguf", tokenizer, style, 256, "p, round 0"))
    assert parts["system"] is None and parts["messages"] == []
    assert parts["stops"] == [tokenizer.eos_token, "Question:"]
    assert _go_render(tmp_path, parts["template"], {"Prompt": QUESTION}) == style.render(tokenizer, QUESTION)


def test_the_chat_template_is_taken_apart_into_each_roles_text(tiny_pretrained_dir):
    pieces = chat_pieces(AutoTokenizer.from_pretrained(tiny_pretrained_dir), STYLE)
    assert (pieces.system_before, pieces.system_after) == ("<|im_start|>system\n", "<|im_end|>\n")
    assert (pieces.user_before, pieces.assistant_before, pieces.reply) == (
        "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_start|>assistant\n")


def test_a_template_that_treats_the_first_turn_apart_is_refused_by_name(tiny_pretrained_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_pretrained_dir)
    # Llama 2's layout: the system message sits inside the first user turn's [INST]
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}[INST] <<SYS>>\n{{ m['content'] }}\n<</SYS>>\n\n"
        "{% elif m['role'] == 'user' and loop.index0 == 1 %}{{ m['content'] }} [/INST]"
        "{% elif m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% else %} {{ m['content'] }} </s>{% endif %}"
        "{% endfor %}")
    with pytest.raises(ModelfileError, match="opens the first user turn differently"):
        chat_pieces(tokenizer, STYLE)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"
    with pytest.raises(ModelfileError, match="drops or rewrites message contents"):
        chat_pieces(tokenizer, STYLE)
    with pytest.raises(ModelfileError, match='holds """'):
        modelfile("m.gguf", AutoTokenizer.from_pretrained(tiny_pretrained_dir),
                  PromptStyle("chat", system='Say """ never'), 2048, "p")
