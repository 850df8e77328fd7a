"""House rules that code review would otherwise have to catch."""

from __future__ import annotations

import ast

from conftest import REPO


def test_engine_never_imports_streamlit():
    offenders = []
    for path in (REPO / "elad_engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert offenders == []
