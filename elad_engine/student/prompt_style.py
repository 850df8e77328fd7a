"""How a question is put to the student: a prompt style, from a small registry. `completion` is the bare scaffold
`Question: ...\\nAnswer:\\n` (for models trained from scratch); `chat` is the tokenizer's own chat template with a
system instruction stating the explanation format. Either can carry k worked exemplars (few-shot) in the same
format. Explain, probes, training, evaluation and export all render prompts through the project's style, and it
is saved with every checkpoint and export as `prompt_style.json`. No torch here: a tokenizer is only asked for its
chat template.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..method.reasoning import ANSWER_TRIGGER, build_prompt, format_explanation
from ..method.records import Example
from ..tasks.base import Task
from ..tasks.registry import task_for

STYLE_FILE = "prompt_style.json"
SYSTEM = ("You solve problems step by step. Write each step on its own numbered line (1., 2., ...), one short "
          f"calculation or fact per step, then a last line exactly like: {ANSWER_TRIGGER} 42.")


@dataclass(frozen=True)
class Exemplar:
    """One worked example shown before the question: its question and its explanation in the numbered format."""

    question: str
    explanation: str
    example_id: str = ""  # the pool example it was taken from (it leaves the pool)


@dataclass(frozen=True)
class PromptStyle:
    kind: str = "completion"  # a key of STYLES
    system: str = SYSTEM  # the chat style's system instruction
    exemplars: tuple[Exemplar, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.kind not in STYLES:
            raise ConfigError(f"prompt style {self.kind!r} is unknown; known styles: {', '.join(STYLES)}")

    def render(self, tokenizer, question: str) -> str:
        """The prompt text for `question`; the explanation is generated (and trained) right after it."""
        return STYLES[self.kind].render(self, tokenizer, question)

    def prompts(self, tokenizer, questions: list[str]) -> list[str]:
        return [self.render(tokenizer, q) for q in questions]

    def messages(self, question: str, explanation: str | None = None) -> list[dict]:
        """The chat messages of this style: system, the exemplars as earlier turns, the question (and the answer)."""
        out = [{"role": "system", "content": self.system}]
        for e in self.exemplars:
            out += [{"role": "user", "content": e.question.strip()}, {"role": "assistant", "content": e.explanation}]
        out.append({"role": "user", "content": question.strip()})
        if explanation is not None:
            out.append({"role": "assistant", "content": explanation})
        return out

    def training_record(self, tokenizer, example_id: str, question: str, explanation: str) -> dict:
        """One line of the exported approved.jsonl: chat messages for the chat style, prompt and completion for the
        completion style (the two formats fine-tuning libraries such as TRL read)."""
        if self.kind == "chat":
            return {"id": example_id, "messages": self.messages(question, explanation)}
        return {"id": example_id, "prompt": self.render(tokenizer, question), "completion": explanation}

    def describe(self) -> str:
        return self.kind + (f" + {len(self.exemplars)} exemplar(s)" if self.exemplars else "")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PromptStyle:
        return cls(data["kind"], data.get("system", SYSTEM), tuple(Exemplar(**e) for e in data.get("exemplars", [])))

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / STYLE_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> PromptStyle | None:
        path = Path(folder) / STYLE_FILE
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


class CompletionStyle:
    """The bare scaffold; exemplars come first, each a question and its explanation, then a blank line."""

    @staticmethod
    def render(style: PromptStyle, tokenizer, question: str) -> str:
        shots = "".join(build_prompt(e.question) + e.explanation + "\n\n" for e in style.exemplars)
        return shots + build_prompt(question)


class ChatStyle:
    """The tokenizer's chat template over style.messages(question), ending where the assistant's turn begins."""

    @staticmethod
    def render(style: PromptStyle, tokenizer, question: str) -> str:
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError("student.prompt_style = 'chat' needs a tokenizer with a chat template; this student "
                              "has none: use 'completion' (or 'auto').")
        return tokenizer.apply_chat_template(style.messages(question), tokenize=False, add_generation_prompt=True)


STYLES = {"completion": CompletionStyle, "chat": ChatStyle}


def pick_exemplars(pool: list[Example], k: int, seed: int, task: Task | None = None) -> tuple[Exemplar, ...]:
    """k pool examples with a gold rationale (a seeded draw, independent of import order), shown as the task shows
    them (choices included) with the rationale as the task's steps and the gold answer as the last line. ConfigError
    when the pool has fewer than k."""
    if k <= 0:
        return ()
    task = task or task_for("number")
    candidates = sorted((e for e in pool if e.rationale and task.rationale_steps(e.rationale)), key=lambda e: e.id)
    if len(candidates) < k:
        raise ConfigError(f"student.few_shot = {k} needs {k} pool examples with a gold rationale; this project has "
                          f"{len(candidates)}. Lower student.few_shot (0 shows no exemplars).")
    chosen = random.Random(seed).sample(candidates, k)
    return tuple(Exemplar(task.student_text(e), format_explanation(task.rationale_steps(e.rationale), e.answer), e.id)
                 for e in chosen)


AUTO_SHOTS = {"chat": 3, "completion": 0}  # student.few_shot = -1


def shot_count(few_shot: int, kind: str) -> int:
    return AUTO_SHOTS[kind] if few_shot < 0 else few_shot


def style_kind(preference: str, tokenizer) -> str:
    """The style to use: `auto` is chat when the tokenizer has a chat template, else completion."""
    if preference == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "completion"
    return preference
