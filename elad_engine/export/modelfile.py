"""The Ollama Modelfile of an export: FROM the quantised GGUF file, a TEMPLATE (Go text/template) that renders
exactly what the saved prompt style renders (the tokenizer's chat template, taken apart into each role's text
around its content), the system message, the exemplars as earlier turns (MESSAGE), greedy decoding and the stop
strings that end an answer where the engine's own stop rule does (the end-of-sequence token)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import EladError
from ..method.reasoning import build_prompt
from ..student.prompt_style import PromptStyle

# A marker no chat template changes or contains: where each message's content sits in a rendering.
_MARK = "\u2063elad{}\u2063"


class ModelfileError(EladError):
    """The prompt style cannot be written as an Ollama template (the export goes on without a Modelfile)."""


@dataclass(frozen=True)
class ChatPieces:
    """A chat template taken apart: the text before and after each role's content, and what opens the reply."""

    system_before: str  # everything before the system message's content (a BOS text included)
    system_after: str
    user_before: str
    user_after: str
    assistant_before: str
    assistant_after: str
    reply: str  # the generation prompt after the last user turn

    def render(self, messages: list[dict]) -> str:
        """What the Go template renders for `messages` (the check that the pieces reproduce the template)."""
        out = []
        for m in messages:
            before, after = {"system": (self.system_before, self.system_after),
                             "user": (self.user_before, self.user_after),
                             "assistant": (self.assistant_before, self.assistant_after)}[m["role"]]
            out += [before, m["content"], after]
        return "".join(out) + self.reply

    def go_template(self) -> str:
        """The Ollama TEMPLATE: one line of Go string constants around each message's content."""
        def q(text: str) -> str:
            return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""

        branches = [f'{{{{ if eq .Role "system" }}}}{q(self.system_before)}{{{{ .Content }}}}{q(self.system_after)}',
                    f'{{{{ else if eq .Role "user" }}}}{q(self.user_before)}{{{{ .Content }}}}{q(self.user_after)}',
                    f'{{{{ else if eq .Role "assistant" }}}}{q(self.assistant_before)}{{{{ .Content }}}}'
                    f'{q(self.assistant_after)}{{{{ end }}}}']
        return "{{ range .Messages }}" + "".join(branches) + "{{ end }}" + q(self.reply)


def _between(text: str, start: str | None, end: str | None) -> str:
    a = text.index(start) + len(start) if start else 0
    return text[a:text.index(end, a)] if end else text[a:]


def chat_pieces(tokenizer, style: PromptStyle) -> ChatPieces:
    """Take the tokenizer's chat template apart by rendering marked messages, then check that the pieces reproduce
    the template for the style's own conversation; ModelfileError when they do not (a template that changes a
    message by its position or content cannot be written as a fixed text around each message)."""
    s, u1, a1, u2 = (_MARK.format(i) for i in range(4))
    conv = [{"role": "system", "content": s}, {"role": "user", "content": u1}, {"role": "assistant", "content": a1},
            {"role": "user", "content": u2}]

    def render(n: int, reply: bool) -> str:
        return tokenizer.apply_chat_template(conv[:n], tokenize=False, add_generation_prompt=reply)

    try:
        full, user_after, assistant_after = render(4, True), _between(render(2, False), u1, None), _between(
            render(3, False), a1, None)
        user_then_assistant, assistant_then_user = _between(full, u1, a1), _between(full, a1, u2)
        system_then_user, tail = _between(full, s, u1), _between(full, u2, None)
    except ValueError:
        raise ModelfileError("the chat template drops or rewrites message contents") from None
    if not (user_then_assistant.startswith(user_after) and assistant_then_user.startswith(assistant_after)
            and tail.startswith(user_after)):
        raise ModelfileError("the chat template ends a turn differently depending on what follows it")
    user_before = assistant_then_user[len(assistant_after):]
    if not system_then_user.endswith(user_before):
        raise ModelfileError("the chat template opens the first user turn differently from later ones")
    pieces = ChatPieces(_between(full, None, s), system_then_user[:len(system_then_user) - len(user_before)],
                        user_before, user_after, user_then_assistant[len(user_after):], assistant_after,
                        tail[len(user_after):])
    question = style.exemplars[0].question if style.exemplars else "What is 2 + 3?"
    expected = tokenizer.apply_chat_template(style.messages(question), tokenize=False, add_generation_prompt=True)
    if pieces.render(style.messages(question)) != expected:
        raise ModelfileError("the chat template renders this conversation differently from its parts")
    return pieces


def _quoted(text: str, what: str) -> str:
    if '"""' in text:
        raise ModelfileError(f'{what} holds """, which an Ollama Modelfile cannot quote')
    return f'"""{text}"""'


def stop_strings(tokenizer, style: PromptStyle) -> list[str]:
    """Where an answer ends: the end-of-sequence token the student was trained to write after its answer line
    (the engine stops there, or at the end of the answer line), and for the completion scaffold the next
    question's label."""
    stops = [tokenizer.eos_token] if tokenizer.eos_token else []
    if style.kind == "completion":
        stops.append(build_prompt("").split(" ")[0])  # "Question:"
    return stops


def modelfile(gguf_name: str, tokenizer, style: PromptStyle, context: int, title: str) -> str:
    """The Modelfile text for the GGUF file `gguf_name` beside it."""
    lines = [f"# Ollama Modelfile: {title}, made by ELAD Studio.",
             "# Run: ollama create NAME -f Modelfile && ollama run NAME \"your question\"", f"FROM ./{gguf_name}"]
    if style.kind == "chat":
        lines.append(f"TEMPLATE {_quoted(chat_pieces(tokenizer, style).go_template(), 'the template')}")
        lines.append(f"SYSTEM {_quoted(style.system, 'the system message')}")
        for e in style.exemplars:  # earlier turns of every conversation
            lines.append(f"MESSAGE user {_quoted(e.question.strip(), 'an exemplar question')}")
            lines.append(f"MESSAGE assistant {_quoted(e.explanation, 'an exemplar explanation')}")
    else:
        shots = "".join(build_prompt(e.question) + e.explanation + "\n\n" for e in style.exemplars)
        before, after = build_prompt(_MARK).split(_MARK)
        template = "{{ " + json.dumps(shots + before, ensure_ascii=False) + " }}{{ .Prompt }}{{ " + json.dumps(
            after, ensure_ascii=False) + " }}"
        lines.append(f"TEMPLATE {_quoted(template, 'the template')}")
    lines += [f"PARAMETER stop {json.dumps(s, ensure_ascii=False)}" for s in stop_strings(tokenizer, style)]
    # greedy, as the engine answers: Ollama's defaults would sample, and penalise repeats by 1.1 (a chain of
    # arithmetic repeats its numbers)
    lines += ["PARAMETER temperature 0", "PARAMETER repeat_penalty 1", f"PARAMETER num_ctx {context}"]
    return "\n".join(lines) + "\n"
