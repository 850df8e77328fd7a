"""The fit check: a project's student, teacher and task read together before any round (`elad round`, the worker,
the Rounds page's start) and in the guided setup's last step, so a combination that cannot learn is refused with
what does not fit and the way out, instead of running rounds that train on nothing. It reads counts in SQL, the
student's files and at most its tokenizer: seconds, never a model load.

A deliberate override for experiments: `rounds.allow_misfit = "demo-student,answers-only"` (or "all"); the rounds
job logs every check it overrode.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..config import ProjectConfig
from ..errors import ConfigError, StoreError, StudentError
from ..method.records import Example
from ..modes import Misfit, TeacherKind
from ..resources import TINY_STUDENT

UNKNOWN_SHARE = 0.05  # more of a dataset's question tokens unknown to the student's tokenizer than this: unreadable


@dataclass
class DataFacts:
    """What the check reads of a dataset: rows per split, pool rows with a reference rationale, rows of the
    embedded task (with its synthetic chain), and a sample of pool questions."""

    pool: int
    test: int
    pool_rationales: int
    chains: int
    rows: int
    questions: list[str] = field(default_factory=list)

    @property
    def embedded_task(self) -> bool:
        return self.rows > 0 and self.chains == self.rows

    @classmethod
    def of(cls, examples: Iterable[Example], sample: int = 200) -> DataFacts:
        """From parsed rows (the guided setup, before the import)."""
        examples = list(examples)
        pool = [e for e in examples if e.split == "pool"]
        return cls(len(pool), len(examples) - len(pool), sum(bool(e.rationale and e.rationale.strip()) for e in pool),
                   sum("chain" in e.meta for e in examples), len(examples), [e.question for e in pool[:sample]])


@dataclass
class Finding:
    check: Misfit
    message: str  # what does not fit, and the way out
    refuses: bool = True  # False: a note, shown but not in the way


class MisfitError(ConfigError):
    """The project cannot learn as configured; the message names each misfit and its way out."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        lines = [f"- {f.message} [{f.check}]" for f in findings]
        super().__init__("this project cannot learn as configured, so no round starts:\n" + "\n".join(lines) +
                         "\n(To run it anyway for an experiment, set rounds.allow_misfit to the names in brackets.)")


def check_fit(cfg: ProjectConfig, data: DataFacts, student: dict, unknown_share: float | None = None) -> list[Finding]:
    """Every misfit of this config on this data with this student (`student`: describe_student's StudentInfo)."""
    out: list[Finding] = []
    if data.test == 0:
        out.append(Finding(Misfit.NO_TEST_SPLIT, f"the project has no test split ({data.pool} pool rows, 0 test rows), "
                           "so no round can be evaluated. Way out: import it again with a test fraction (the guided "
                           "setup's slider), or import the dataset's test file as the test split."))
    if student.get("demo") and not data.embedded_task:
        unknown = f" ({unknown_share:.0%} of this dataset's question tokens are unknown to it)" \
            if unknown_share is not None else ""
        out.append(Finding(Misfit.DEMO_STUDENT, f"the shipped demo student ({TINY_STUDENT}, 3.2M parameters) was "
                           "pre-trained from scratch on the embedded arithmetic task alone: its tokenizer knows that "
                           f"task's words only{unknown}, so it cannot learn this dataset. Way out: a pretrained "
                           "student: SmolLM2-135M-Instruct (the guided setup installs it in one click, or `make "
                           "real-student`, then student.path = \"student:smollm2-135m\"), or a Hugging Face id such "
                           "as Qwen/Qwen2.5-0.5B-Instruct."))
    elif unknown_share is not None and unknown_share > UNKNOWN_SHARE:
        out.append(Finding(Misfit.UNREADABLE, f"the student's tokenizer reads {unknown_share:.0%} of this dataset's "
                           "question tokens as unknown: it was built for other text. Way out: a pretrained student "
                           "whose tokenizer covers this language."))
    out += _teacher_findings(cfg, data)
    out += _exemplar_findings(cfg, data, student)
    return out


def _teacher_findings(cfg: ProjectConfig, data: DataFacts) -> list[Finding]:
    kind, out = TeacherKind(cfg.teacher.kind), []
    if kind == TeacherKind.ORACLE and not data.embedded_task:
        out.append(Finding(Misfit.ORACLE_WITHOUT_CHAINS, f"teacher.kind = 'oracle' checks the embedded task's "
                           f"synthetic arithmetic chains step by step; {data.rows - data.chains} of this dataset's "
                           f"{data.rows} rows have none, and for those it can only compare final answers. Way out: "
                           "teacher.kind = 'reference' (reference solutions from the data: a simulated teacher, no "
                           "cost) for a dry run, or 'openai' (an LLM endpoint)."))
    elif kind == TeacherKind.REFERENCE and data.pool_rationales == 0:
        out.append(Finding(Misfit.ANSWERS_ONLY, f"teacher.kind = 'reference' teaches from the dataset's reference "
                           f"solutions, but none of the {data.pool} pool rows has one (only final answers): the "
                           "student would be trained on answers without explanations. Way out: an LLM teacher "
                           "(teacher.kind = 'openai'), or a dataset with a rationale column."))
    elif kind == TeacherKind.REFERENCE and data.pool_rationales < data.pool:
        out.append(Finding(Misfit.ANSWERS_ONLY, f"{data.pool - data.pool_rationales} of {data.pool} pool rows have "
                           "only a final answer: the reference teacher cannot revise them, so they go to review as "
                           "teacher_failed.", refuses=False))
    return out


def _exemplar_findings(cfg: ProjectConfig, data: DataFacts, student: dict) -> list[Finding]:
    s = cfg.student
    chat = s.prompt_style == "chat" or (s.prompt_style == "auto" and student.get("chat"))
    if not chat and s.few_shot <= 0:
        return []
    shots = 3 if s.few_shot < 0 else s.few_shot
    if chat and shots == 0:
        return [Finding(Misfit.NO_EXEMPLARS, "student.few_shot = 0 with a chat student: without worked exemplars an "
                        "instruct model rarely writes the numbered steps and answer line a round learns from "
                        "(SmolLM2-135M-Instruct followed the format in 16% of GSM8K answers without them, 56% with 3; "
                        "README). Way out: student.few_shot = -1 (auto: 3 exemplars) or more.")]
    if data.pool_rationales < shots:
        return [Finding(Misfit.NO_EXEMPLARS, f"the {'chat ' if chat else ''}student is shown {shots} worked "
                        f"exemplars taken from pool rows with a reference rationale, but the pool has "
                        f"{data.pool_rationales}. Way out: a dataset with a rationale column, or a lower "
                        "student.few_shot.")]
    return []


def overridden(cfg: ProjectConfig) -> set[str]:
    """The checks rounds.allow_misfit overrides ("all": every one)."""
    names = {n.strip() for n in cfg.rounds.allow_misfit.split(",") if n.strip()}
    return set(Misfit) if "all" in names else names


def finding_rows(findings: list[Finding], cfg: ProjectConfig) -> list[dict]:
    """The findings as pages and the CLI show them: {"check", "message", "refuses", "overridden"} each, where
    `refuses` is only what rounds.allow_misfit does not override."""
    allowed = overridden(cfg)
    return [{"check": str(f.check), "message": f.message, "refuses": f.refuses and f.check not in allowed,
             "overridden": f.refuses and f.check in allowed} for f in findings]


def enforce(findings: list[Finding], cfg: ProjectConfig, log=None) -> None:
    """Raise MisfitError for the refusing findings not overridden; log the overridden ones and the notes."""
    allowed, refused = overridden(cfg), []
    for f in findings:
        if not f.refuses:
            if log:
                log(f"fit check note: {f.message}")
        elif f.check in allowed:
            if log:
                log(f"fit check OVERRIDDEN by rounds.allow_misfit ({f.check}): {f.message}")
        else:
            refused.append(f)
    if refused:
        raise MisfitError(refused)


def project_fit(store, project_id: int, cfg: ProjectConfig | None = None) -> list[Finding]:
    """The findings for a stored project (its data counted in SQL, its student read from its files)."""
    cfg = cfg or store.projects.config(project_id)
    return fit_of(store, cfg, DataFacts(**store.examples.fit_counts(project_id)))


def fit_of(store, cfg: ProjectConfig, data: DataFacts) -> list[Finding]:
    """The findings for `cfg` on `data`: the student is described (hub ids from the cache, never downloaded), and
    its tokenizer, when on this machine, reads a sample of the questions."""
    from ..student.describe import describe_student

    try:
        student = describe_student(store, cfg.student.path)
    except (StudentError, StoreError) as e:  # no such folder, file or registered student
        return [Finding(Misfit.NO_STUDENT, f"the student cannot be read: {e}")] + check_fit(cfg, data, {})
    share = None
    if student["folder"] and data.questions and not data.embedded_task:
        share = _unknown_share(student["folder"], tuple(data.questions))
    return check_fit(cfg, data, student, share)


@functools.lru_cache(maxsize=32)
def _unknown_share(folder: str, questions: tuple[str, ...]) -> float | None:
    """unknown_token_share, kept per student folder and questions: the Rounds page checks on every script run, and
    loading a tokenizer each time would cost it a second."""
    from ..student.describe import unknown_token_share
    return unknown_token_share(folder, list(questions))
