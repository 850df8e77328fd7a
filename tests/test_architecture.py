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


def _imports(path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_pages_stay_thin_and_call_the_engine():
    """Pages and ui/ never touch torch, SQLite or the OpenAI client directly; a page is at most 150 lines."""
    banned = {"torch", "sqlite3", "sqlite_utils", "openai", "transformers", "peft"}
    files = [REPO / "app.py", *(REPO / "app_pages").glob("*.py"), *(REPO / "ui").glob("*.py")]
    assert len(files) >= 8
    offenders = [f"{p.name}: {n}" for p in files for n in _imports(p) if n.split(".")[0] in banned]
    assert offenders == []
    long_pages = [p.name for p in (REPO / "app_pages").glob("*.py") if len(p.read_text().splitlines()) > 150]
    assert long_pages == []
