"""The model cards of an export, as a model hub reads them: README.md (YAML front matter with base_model,
library_name, license, tags, datasets and model-index; the prompt format; how the student was distilled; how to run
it with transformers, peft, llama.cpp and Ollama, each snippet runnable as written in the export folder) and
adapter/README.md for the LoRA adapter alone. No path of the machine that built it appears in either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from ..config import ProjectConfig
from ..method.accuracy import multi_step_accuracy
from ..method.reasoning import ANSWER_TRIGGER, build_prompt
from ..modes import TeacherKind
from ..student.prompt_style import STYLE_FILE, PromptStyle
from ..student.provenance import BaseModel
from ..teachers.prompts import PROMPT_VERSION


@dataclass(frozen=True)
class CardFacts:
    """What the cards say about one exported round, gathered once by the export."""

    project: str
    round: int
    cfg: ProjectConfig
    base: BaseModel
    style: PromptStyle
    method: str  # lora or full
    metrics: list[dict]  # every round's metrics row
    training_samples: list  # (example, explanation) approved or edited, trained on
    sources: tuple[str, ...]  # "file name: rows, imported DATE" per import, file names only
    simulated_note: str  # the line on simulated teachers ("" when every explanation came from an LLM)
    example_question: str  # a pool question, shown in the snippets
    parts: frozenset[str] = frozenset()  # adapter, merged
    gguf_files: tuple[str, ...] = ()  # unquantised first, then the quantised one
    gguf_note: str = ""  # why there is no GGUF, or what the quantisation fell back to

    @property
    def row(self) -> dict:
        return next(m for m in self.metrics if m["round"] == self.round)

    @property
    def dataset(self) -> str | None:
        """The preset's dataset name (a file read through a column mapping has none to give)."""
        name = self.cfg.task.dataset
        return name if name and name != "custom" else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def metrics_table(metrics: list[dict]) -> str:
    lines = ["| round | accuracy | multi-step accuracy | teacher prompt tokens | teacher completion tokens | "
             "teacher USD | approved | edited | rejected |", "|---|---|---|---|---|---|---|---|---|"]
    for m in metrics:
        ms = multi_step_accuracy(m["by_difficulty"])
        lines.append(f"| {m['round']} | {_pct(m['accuracy'])} | {_pct(ms)} | {m['prompt_tokens'] or 0:,} | "
                     f"{m['completion_tokens'] or 0:,} | {m['cost_usd'] or 0:.4f} | {m['approved'] or 0} | "
                     f"{m['edited'] or 0} | {m['rejected'] or 0} |")
    return "\n".join(lines)


def prompt_section(style: PromptStyle) -> str:
    """The "Prompt format" section: how to ask this student a question."""
    answer = f"1. <step>\n2. <step>\n{ANSWER_TRIGGER} <answer>."
    if style.kind == "chat":
        shots = (f" The {len(style.exemplars)} worked exemplars in `{STYLE_FILE}` come first, as earlier user "
                 "and assistant turns." if style.exemplars else "")
        return (f"Chat (the tokenizer's own chat template), with this system message:{shots}\n\n```\n{style.system}"
                f"\n```\n\nThe user message is the question; the assistant answers:\n\n```\n{answer}\n```")
    shots = (f" The {len(style.exemplars)} worked exemplars in `{STYLE_FILE}` come first, each a question and "
             "its explanation followed by a blank line." if style.exemplars else "")
    return f"Completion (a plain text scaffold).{shots}\n\n```\n{build_prompt('<question>')}{answer}\n```"


def front_matter(f: CardFacts, library: str) -> str:
    """The card's YAML header, as the hub's model pages and search read it."""
    front: dict = {}
    if f.base.known:
        front["base_model"] = f.base.repo_id
    front["library_name"] = library
    if f.base.license:
        front["license"] = f.base.license
    front["pipeline_tag"] = "text-generation"
    front["tags"] = ["elad-studio", "distillation", "chain-of-thought"] + (["lora"] if f.method == "lora" else []) + (
        ["gguf"] if f.gguf_files else [])
    if f.dataset:
        front["datasets"] = [f.dataset]
    dataset = {"name": f.dataset or f.project, "type": f.dataset or f.project, "split": "test"}
    front["model-index"] = [{"name": f"{f.project}-round-{f.round}", "results": [{
        "task": {"type": "text-generation", "name": "step-by-step question answering"}, "dataset": dataset,
        "metrics": [{"type": "accuracy", "value": round(float(f.row["accuracy"]), 4),
                     "name": f"test accuracy ({f.row['test_size']} held-out questions, final answer exact)"}]}]}]
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def model_card(f: CardFacts) -> str:
    """README.md of the export (and of merged/, which a hub upload takes alone)."""
    library = "transformers" if "merged" in f.parts else "peft"
    cfg, row = f.cfg, f.row
    done = [m for m in f.metrics if m["round"] <= f.round]
    tokens = (sum(m["prompt_tokens"] or 0 for m in done), sum(m["completion_tokens"] or 0 for m in done))
    reviewed = {k: sum(m[k] or 0 for m in done) for k in ("approved", "edited", "rejected")}
    return f"""{front_matter(f, library)}
# {f.project}: student after round {f.round}

Distilled with ELAD Studio (explanation-guided active distillation) from {_base_words(f.base)}.
Test accuracy: **{_pct(row['accuracy'])}** on {row['test_size']} held-out questions (the final answer compared
exactly){f' of {f.dataset}' if f.dataset else ''}.

## Prompt format

{prompt_section(f.style)}

## How it was distilled

- Rounds 0-{f.round}: each round the student explained the unlabeled pool, the most uncertain questions (strategy
  `{cfg.selection.strategy}`, {cfg.selection.round_budget} per round after a warm-up of {cfg.rounds.warmup}) went
  to the teacher ({_teacher_words(cfg.teacher)}, annotation `{cfg.teacher.annotation}`, prompts
  `{PROMPT_VERSION}`), reviewers decided each revision (policy `{cfg.review.policy}`), and the student was
  fine-tuned ({f.method}) on everything approved.
- Teacher tokens: {tokens[0]:,} prompt and {tokens[1]:,} completion.
- Review: {reviewed['approved']} approved, {reviewed['edited']} edited, {reviewed['rejected']} rejected; trained on
  {len(f.training_samples)} explanations (`approved.jsonl`).{f.simulated_note}

## Per-round metrics

{metrics_table(f.metrics)}

## Data

{chr(10).join(f'- {s}' for s in f.sources) or '- (no imports recorded)'}

## How to run it

{usage_section(f)}
"""


def _base_words(base: BaseModel) -> str:
    if not base.known:
        return ("a base model whose hub id was not recorded (a local folder): `merged/` is self-contained and is the "
                "form to use")
    words = f"`{base.repo_id}`" + (f" (commit `{base.revision}`)" if base.revision else "")
    if base.from_gguf:
        words += (" as packaged in a GGUF file and dequantised, so `merged/` holds the exact weights it was trained "
                  "on; the adapter on the hub's own weights sees a slightly different base")
    return words


def _teacher_words(teacher) -> str:
    kind = TeacherKind(teacher.kind)
    return f"simulated: {kind.words}" if kind.simulated else f"model `{teacher.model}`"


def _messages_code(folder: str) -> str:
    return (f'style = json.load(open("{folder}/{STYLE_FILE}"))\n'
            'messages = [{"role": "system", "content": style["system"]}]\n'
            'for shot in style["exemplars"]:\n'
            '    messages += [{"role": "user", "content": shot["question"]},\n'
            '                 {"role": "assistant", "content": shot["explanation"]}]\n'
            'messages.append({"role": "user", "content": question})\n')


def _prompt_code(f: CardFacts, folder: str) -> str:
    """Python that sets `prompt` from `question` in the saved prompt style (`tokenizer` in scope for chat)."""
    if f.style.kind == "chat":
        return _messages_code(folder) + ("prompt = tokenizer.apply_chat_template(messages, tokenize=False, "
                                         "add_generation_prompt=True)\n")
    return (f'style = json.load(open("{folder}/{STYLE_FILE}"))\n'
            'shots = "".join(f"Question: {s[\'question\'].strip()}\\nAnswer:\\n{s[\'explanation\']}\\n\\n"\n'
            '                for s in style["exemplars"])\n'
            'prompt = shots + f"Question: {question.strip()}\\nAnswer:\\n"\n')


def usage_section(f: CardFacts) -> str:
    """How to run the student, one runnable snippet per tool the export serves (run them in the export folder)."""
    question = f"question = {json.dumps(f.example_question, ensure_ascii=False)}\n"
    tokens = f.cfg.student.max_new_tokens  # what the engine lets an explanation run to
    generate = ('ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)\n'
                f'out = model.generate(**ids, max_new_tokens={tokens}, do_sample=False)\n'
                'print(tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))\n')
    parts = ["Run these in the export folder."]
    if "merged" in f.parts:
        parts.append("**transformers** (the merged model, self-contained):\n\n```python\nimport json\n\n"
                     "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n" + question +
                     'tokenizer = AutoTokenizer.from_pretrained("merged")\n'
                     'model = AutoModelForCausalLM.from_pretrained("merged")\n' + _prompt_code(f, "merged")
                     + generate + "```")
    if "adapter" in f.parts and f.base.known:
        parts.append("**peft** (the adapter on its base model from the hub):\n\n```python\nimport json\n\n"
                     + _PEFT_IMPORTS + question + _peft_load(f.base) + _prompt_code(f, "adapter") + generate + "```")
    elif "adapter" in f.parts:
        parts.append("**peft**: the adapter needs the exact base model it was trained on, and nobody recorded that "
                     "model's hub id; use `merged/`.")
    if f.gguf_files:
        parts.append(_llama_cpp_usage(f, question))
    elif f.gguf_note:
        parts.append(f"**llama.cpp and Ollama**: no GGUF files in this export ({f.gguf_note}).")
    return "\n\n".join(parts)


def _llama_cpp_usage(f: CardFacts, question: str) -> str:
    quantised, tokens = f.gguf_files[-1], f.cfg.student.max_new_tokens
    if f.style.kind == "chat":
        call = (_messages_code(".") + "reply = llm.create_chat_completion(messages, temperature=0, "
                f"max_tokens={tokens})\n"
                'print(reply["choices"][0]["message"]["content"])\n')
    else:
        call = (_prompt_code(f, ".") + f'reply = llm(prompt, temperature=0, max_tokens={tokens}, stop=["Question:"])\n'
                'print(reply["choices"][0]["text"])\n')
    note = f" ({f.gguf_note})" if f.gguf_note else ""
    return (f"**llama.cpp** ({', '.join(f'`{g}`' for g in f.gguf_files)}{note}), through llama-cpp-python:\n\n"
            "```python\nimport json\n\nfrom llama_cpp import Llama\n\n" + question +
            f'llm = Llama("{quantised}", n_ctx=4096, verbose=False)\n' + call + "```\n\n"
            f"or as an OpenAI-compatible server: `python -m llama_cpp.server --model {quantised}` "
            f"(llama.cpp's own: `llama-server -m {quantised}`); send `temperature: 0` and `repeat_penalty: 1.0` "
            "for the answers the engine measured (llama_cpp.server's default penalty is 1.1).\n\n"
            "**Ollama** (`Modelfile` has the chat template, the system message, the exemplars as earlier turns and "
            "the stop strings):\n\n```bash\n"
            f"ollama create {f.project}-round-{f.round} -f Modelfile\n"
            f"ollama run {f.project}-round-{f.round} {json.dumps(f.example_question, ensure_ascii=False)}\n```")


_PEFT_IMPORTS = "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"


def _peft_load(base: BaseModel) -> str:
    """The base model from the hub (at the commit trained on), the adapter on it, and the adapter's tokenizer."""
    revision = f', revision="{base.revision}"' if base.revision else ""
    return (f'base = AutoModelForCausalLM.from_pretrained("{base.repo_id}"{revision})\n'
            'model = PeftModel.from_pretrained(base, "adapter")\n'
            'tokenizer = AutoTokenizer.from_pretrained("adapter")\n')


def adapter_card(f: CardFacts, adapter_config: dict) -> str:
    """adapter/README.md: what the adapter is, its LoRA settings, how to load it, how to prompt it."""
    targets = adapter_config.get("target_modules") or []
    targets = ", ".join(sorted(targets)) if isinstance(targets, list) else str(targets)
    if f.base.known:
        load = "```python\n" + _PEFT_IMPORTS + _peft_load(f.base).replace('"adapter"', '"."') + "```"
    else:
        load = ("Its base model's hub id was not recorded (the student was a local folder), so the adapter cannot be "
                "loaded by name elsewhere; `merged/` beside it is the self-contained model.")
    return f"""{front_matter(f, "peft")}
# LoRA adapter: {f.project}, round {f.round}

A LoRA adapter for {_base_words(f.base)}, made by ELAD Studio.
Rank {adapter_config.get('r')}, alpha {adapter_config.get('lora_alpha')}, dropout
{adapter_config.get('lora_dropout')}, on the modules {targets}. The export's README.md beside this folder has
the training data, the metrics per round and the method.

{load}

## Prompt format

{prompt_section(f.style)}
"""
