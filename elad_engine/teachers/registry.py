"""The teacher backends by name (teacher.kind): the exact arithmetic oracle, and any OpenAI-compatible endpoint.
`make_teacher(cfg.teacher)` builds the configured one; a backend module is imported only when it is used."""

from __future__ import annotations

from ..config import TeacherConfig
from .protocol import Teacher


def make_teacher(cfg: TeacherConfig) -> Teacher:
    """The configured teacher backend."""
    if cfg.kind == "oracle":
        from .oracle import OracleTeacher
        return OracleTeacher(show_gold=cfg.show_gold)
    from .openai_compat import OpenAICompatTeacher
    return OpenAICompatTeacher(cfg)
