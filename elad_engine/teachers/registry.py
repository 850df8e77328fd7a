"""The teacher backends by name (teacher.kind): the exact arithmetic oracle, the reference teacher (reference solutions
from the data, simulated), and any OpenAI-compatible endpoint.
`make_teacher(cfg.teacher)` builds the configured one; a backend module is imported only when it is used."""

from __future__ import annotations

from ..config import TeacherConfig
from ..modes import TeacherKind
from .protocol import Teacher


def make_teacher(cfg: TeacherConfig) -> Teacher:
    """The configured teacher backend."""
    if cfg.kind == TeacherKind.ORACLE:
        from .oracle import OracleTeacher
        return OracleTeacher(show_gold=cfg.show_gold)
    if cfg.kind == TeacherKind.REFERENCE:
        from .reference import ReferenceTeacher
        return ReferenceTeacher(show_gold=cfg.show_gold)
    from .openai_compat import OpenAICompatTeacher
    return OpenAICompatTeacher(cfg)
