"""Presets: the public reasoning datasets read from their own published files, one small row rewrite each (what
the file holds -> question, answer, choices, rationale). `elad import --preset NAME FILE`; mapping flags given on
top of a preset (`--id`, `--split-column`, `--question`, ...) replace the preset's choice for that field.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass

from .mapping import ColumnMapping

_CALC = re.compile(r"<<[^>]*>>")
_OPTION = re.compile(r"^\s*\(?([A-Za-z])\s*\)\s*(.*)$", re.DOTALL)  # AQuA's "A)95", "B) 150 m"
# AQuA rationales restate the answer on a short line of its own ("Answer: D", "So answer is D", "Option B is
# correct", "ANSWER D 8000"): not a step, since the explanation's last line states the answer anyway.
_ANSWER_WORD = re.compile(r"\b(?:answer|ans|option)\b", re.IGNORECASE)
ANSWER_LINE_CHARS = 40
NLI_LABELS = ["entailment", "neutral", "contradiction"]
NLI_QUESTION = "Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the hypothesis?"


class RowError(Exception):
    """A row the preset cannot read; `column` names where."""

    def __init__(self, column: str | None, text: str):
        super().__init__(text)
        self.column, self.text = column, text


@dataclass(frozen=True)
class Preset:
    """A published file layout: how its rows become fields (`transform`, adding `_field` keys that `mapping`
    names), the answer type, and the file format whatever the extension (AQuA's JSON Lines in `.json` files)."""

    name: str
    answer_type: str
    mapping: ColumnMapping
    transform: Callable[[dict], dict] | None = None  # raises RowError to refuse a row
    format: str | None = None
    optional: frozenset[str] = frozenset()  # mapped fields whose column may be absent from the file
    meta: str | None = None  # column holding a dict kept as Example.meta
    files: str = ""  # the public files it reads, for the README and --help
    command: str = ""  # an import command for them
    signature: frozenset[str] = frozenset()  # columns that tell its files apart (a hint when --preset is missing)


def _number_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _gsm8k(row: dict) -> dict:
    raw = row.get("answer")
    if raw is None:  # a missing column is reported once for the whole file, not here for every row
        return row
    if not isinstance(raw, str) or "####" not in raw:
        raise RowError("answer", "has no '####' before the final answer; GSM8K answers end with '#### <number>'")
    before, _, after = raw.rpartition("####")
    # The calculator annotations `<<48/2=24>>` leave the rationale's text but are kept: they are the reference
    # solution's intermediate values (the reference teacher checks the student's steps against them).
    calculations = [c.strip("<>") for c in _CALC.findall(before)]
    return {**row, "_answer": after.strip().replace(",", ""), "_rationale": _CALC.sub("", before).strip() or None,
            "_meta": {"calculations": calculations} if calculations else None}


def _join_question(body: str, question: str) -> str:
    """SVAMP/ASDiv: a body without a final stop runs into its question as one sentence ("..., how much ...?")."""
    body, question = (body or "").strip(), (question or "").strip()
    if not body or body[-1] in ".?!":
        return f"{body} {question}".strip()
    return f"{body}, {question[:1].lower()}{question[1:]}"


def _svamp(row: dict) -> dict:
    out = {**row}
    if isinstance(row.get("Body"), str) and isinstance(row.get("Question"), str):
        out["_question"] = _join_question(row["Body"], row["Question"])
    if "Answer" in row:
        out["_answer"] = _number_text(row["Answer"])
        eq = re.sub(r"(\d)\.0\b", r"\1", str(row.get("Equation") or "")).strip()
        if eq.startswith("(") and eq.endswith(")") and eq.count("(") == 1:
            eq = eq[1:-1].strip()
        out["_rationale"] = f"{eq} = {out['_answer']}" if eq else None
    return out


def _aqua_choices(options) -> list[str]:
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise RowError("options", "must be a list of strings like \"A)95\"")
    texts = []
    for i, o in enumerate(options):
        m = _OPTION.match(o)
        if not m or m.group(1).upper() != string.ascii_uppercase[i]:
            raise RowError("options", f"option {i + 1} {o!r} does not start with {string.ascii_uppercase[i]})")
        texts.append(m.group(2).strip())
    return texts


def _aqua(row: dict) -> dict:
    out = {**row, "_choices": _aqua_choices(row["options"]) if "options" in row else None}
    lines = [ln.strip() for ln in str(row.get("rationale") or "").split("\n")
             if ln.strip() and not (len(ln.strip()) <= ANSWER_LINE_CHARS and _ANSWER_WORD.search(ln))]
    steps: list[str] = []
    for ln in lines:  # a line with no words or operators ("= 32400", "1.5") continues the step before it
        if steps and not re.search(r"[A-Za-z+*/=×÷^-]", ln):
            steps[-1] += f" {ln}"
        else:
            steps.append(ln)
    out["_rationale"] = "\n".join(steps) or None
    return out


def _yes_no(value):
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


def _strategyqa(row: dict) -> dict:
    facts = row.get("facts")
    return {**row, "_answer": _yes_no(row.get("answer")), "_labels": ["yes", "no"],
            "_rationale": "\n".join(f for f in facts if isinstance(f, str)) if isinstance(facts, list) else None}


def _commonsenseqa(row: dict) -> dict:
    q = row.get("question")
    if not isinstance(q, dict):
        raise RowError("question", "must be an object with 'stem' and 'choices' (the *_rand_split.jsonl layout)")
    choices = q.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) and "label" in c and "text" in c for c in choices):
        raise RowError("question", "'choices' must be a list of {label, text} objects")
    return {**row, "_question": q.get("stem"), "_choices": choices}


def _mawps(row: dict) -> dict:
    """MultiArith, AddSub, SingleEq in the zero-shot-CoT repository: sQuestion, lSolutions, lEquations."""
    sols, eqs = row.get("lSolutions"), row.get("lEquations")
    out = {**row}
    if isinstance(sols, list) and sols:
        out["_answer"] = _number_text(sols[0])
    if isinstance(eqs, list):
        steps = []
        for eq in (re.sub(r"(\d)\.0\b", r"\1", e).replace(" ", "") for e in eqs if isinstance(e, str)):
            m = re.fullmatch(r"[Xx]=\((.*)\)|[Xx]=(.*)", eq)  # "X=((32+42)-35)" -> "(32+42)-35 = 39"
            steps.append(f"{m.group(1) or m.group(2)} = {out.get('_answer', 'x')}" if m else eq)
        out["_rationale"] = "\n".join(steps) or None
    return out


def _esnli(row: dict) -> dict:
    return {**row, "_question": NLI_QUESTION.format(premise=row.get("Sentence1", ""),
                                                    hypothesis=row.get("Sentence2", "")), "_labels": NLI_LABELS}


def _anli(row: dict) -> dict:
    label = {"e": "entailment", "n": "neutral", "c": "contradiction"}.get(row.get("label"), row.get("label"))
    return {**row, "_question": NLI_QUESTION.format(premise=row.get("context", ""),
                                                    hypothesis=row.get("hypothesis", "")),
            "_answer": label, "_labels": NLI_LABELS, "_rationale": row.get("reason") or None}


def _mapping(**kw) -> ColumnMapping:
    return ColumnMapping(**kw)


_MAWPS = dict(answer_type="number", mapping=_mapping(question="sQuestion", answer="_answer", rationale="_rationale",
                                                     id="iIndex"),
              transform=_mawps, optional=frozenset({"rationale"}), signature=frozenset({"sQuestion", "lSolutions"}))

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("gsm8k", "number", _mapping(answer="_answer", rationale="_rationale"), _gsm8k, meta="_meta",
           optional=frozenset({"rationale"}), files="gsm8k/train.jsonl, test.jsonl",
           signature=frozenset({"question", "answer"}),
           command="elad import --project gsm8k --preset gsm8k --split pool train.jsonl"),
    Preset("svamp", "number", _mapping(question="_question", answer="_answer", rationale="_rationale", id="ID"),
           _svamp, files="svamp/SVAMP.json", signature=frozenset({"Body", "Question", "Equation", "Answer"}),
           command="elad import --project svamp --preset svamp SVAMP.json"),
    Preset("aqua", "choice", _mapping(question="question", answer="correct", choices="_choices",
                                      rationale="_rationale"), _aqua, format="jsonl",
           optional=frozenset({"rationale"}), files="aqua/dev.json, test.json (AQuA-RAT, JSON Lines)",
           signature=frozenset({"options", "correct"}),
           command="elad import --project aqua --preset aqua --split pool dev.json"),
    Preset("strategyqa", "label", _mapping(question="question", answer="_answer", choices="_labels",
                                           rationale="_rationale", id="qid"), _strategyqa,
           optional=frozenset({"rationale"}), files="strategyqa/train.json, dev.json",
           signature=frozenset({"qid", "facts", "decomposition"}),
           command="elad import --project strategyqa --preset strategyqa --split pool train.json"),
    Preset("commonsenseqa", "choice", _mapping(question="_question", answer="answerKey", choices="_choices", id="id"),
           _commonsenseqa, format="jsonl", files="train_rand_split.jsonl, dev_rand_split.jsonl",
           signature=frozenset({"answerKey", "question"}),
           command="elad import --project csqa --preset commonsenseqa --split pool train_rand_split.jsonl"),
    Preset("multiarith", files="MultiArith.json (zero-shot-CoT dataset/MultiArith/)",
           command="elad import --project multiarith --preset multiarith MultiArith.json", **_MAWPS),
    Preset("addsub", files="AddSub.json (zero-shot-CoT dataset/AddSub/)",
           command="elad import --project addsub --preset addsub AddSub.json", **_MAWPS),
    Preset("singleeq", files="questions.json (zero-shot-CoT dataset/SingleEq/)",
           command="elad import --project singleeq --preset singleeq questions.json", **_MAWPS),
    Preset("esnli", "label", _mapping(question="_question", answer="gold_label", choices="_labels",
                                      rationale="Explanation_1", id="pairID"), _esnli, format="csv",
           optional=frozenset({"rationale"}), files="esnli_train_1.csv, esnli_dev.csv, esnli_test.csv",
           signature=frozenset({"Sentence1", "Sentence2", "gold_label"}),
           command="elad import --project esnli --preset esnli --split pool esnli_train_1.csv"),
    Preset("anli", "label", _mapping(question="_question", answer="_answer", choices="_labels",
                                     rationale="_rationale", id="uid"), _anli, format="jsonl",
           optional=frozenset({"rationale"}), files="anli_v1.0/R1/train.jsonl, dev.jsonl, test.jsonl",
           signature=frozenset({"context", "hypothesis", "label"}),
           command="elad import --project anli --preset anli --split pool R1/train.jsonl"),
    Preset("synthetic", "number", _mapping(id="id", rationale="rationale", split="split", difficulty="difficulty",
                                           choices="choices"),
           optional=frozenset({"id", "rationale", "split", "difficulty", "choices"}), meta="meta",
           files="what `write_jsonl` saves (the embedded task)"),
]}


def suggest_presets(columns: set[str], answers: list) -> list[str]:
    """The presets whose published layout these columns (and, for GSM8K, answers ending '#### N') look like."""
    out = [p.name for p in PRESETS.values() if p.signature and p.signature <= columns and p.name != "gsm8k"]
    if "gsm8k" not in out and {"question", "answer"} <= columns and answers and \
            all(isinstance(a, str) and "####" in a for a in answers):
        out.insert(0, "gsm8k")
    return out
