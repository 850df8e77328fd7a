"""House rules that code review would otherwise have to catch: which layer may import what, no import cycles,
no module over 400 lines, no class over 250, no function over 60 without its reason, the package list complete."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from conftest import REPO

ENGINE = REPO / "elad_engine"
UI_FILES = [REPO / "app.py", *(REPO / "app_pages").glob("*.py"), *(REPO / "ui").glob("*.py")]
# What a page (or ui/ helper) may import of the engine: the service seam, nothing underneath it.
PAGE_MAY_IMPORT = {"elad_engine.service"}
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE|PRAGMA)\b",
                 re.IGNORECASE | re.DOTALL)
LONG_FUNCTION_REASON = "Long because"  # what a docstring says when a function is over 60 lines, and why


def _code_files() -> list[Path]:
    folders = [ENGINE, REPO / "app_pages", REPO / "ui", REPO / "scripts", REPO / "benchmarks"]
    return [REPO / "app.py", *(p for f in folders for p in f.rglob("*.py"))]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Every module a file imports, anywhere in it (lazy imports inside functions too), relative ones resolved."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from pkg import module` imports the module; `from module import name` imports the module
            names += [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]
    return names


def _is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_engine_never_imports_streamlit():
    offenders = [f"{p.name}: {n}" for p in ENGINE.rglob("*.py") for n in _imports(p) if n.split(".")[0] == "streamlit"]
    assert offenders == []


def test_pages_stay_thin_and_call_the_engine():
    """Pages and ui/ never touch torch, SQLite or the OpenAI client directly; a page is at most 150 lines."""
    banned = {"torch", "sqlite3", "sqlite_utils", "openai", "transformers", "peft"}
    assert len(UI_FILES) >= 8
    offenders = [f"{p.name}: {n}" for p in UI_FILES for n in _imports(p) if n.split(".")[0] in banned]
    assert offenders == []
    long_pages = [p.name for p in (REPO / "app_pages").glob("*.py") if len(p.read_text().splitlines()) > 150]
    assert long_pages == []


def test_pages_reach_the_engine_only_through_the_service_and_never_run_sql():
    """app.py, the pages and ui/ import nothing of elad_engine but elad_engine.service (so never the store, the
    accounts rules or a function the service guards), and hold no SQL and no database handle."""
    wrong = [f"{p.relative_to(REPO)}: {n}" for p in UI_FILES for n in _imports(p)
             if n.split(".")[0] == "elad_engine" and n not in PAGE_MAY_IMPORT]
    assert wrong == []
    import elad_engine.service as service

    names = [(p, node) for p in UI_FILES for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, (ast.Import, ast.ImportFrom))]
    plain = [f"{p.name}: import {a.name}" for p, node in names if isinstance(node, ast.Import) for a in node.names
             if a.name.startswith("elad_engine")]
    beyond = [f"{p.name}: {a.name}" for p, node in names if isinstance(node, ast.ImportFrom)
              and node.module == "elad_engine.service" for a in node.names if a.name not in service.__all__]
    assert plain == [] and beyond == []  # no module object to reach past the guarded areas
    sql = []
    for p in UI_FILES:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                sql.append(f"{p.name}:{node.lineno}: {node.value[:40]!r}")
            if isinstance(node, ast.Attribute) and node.attr in {"db", "database", "execute", "executescript", "query",
                                                                  "store"}:
                sql.append(f"{p.name}:{node.lineno}: .{node.attr}")
    assert sql == []


def test_the_engine_imports_form_no_cycle():
    """Tarjan's strongly connected components over every import in elad_engine (lazy ones included)."""
    graph = {_module_name(p): {n for n in _imports(p) if n.startswith("elad_engine") and _is_module(n)}
             for p in ENGINE.rglob("*.py")}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert len(graph) > 40 and cycles == []


def test_no_module_class_or_function_is_too_long():
    """Modules at most 400 lines, classes at most 250; a function over 60 lines says why in its docstring."""
    too_long = []
    for p in _code_files():
        text = p.read_text()
        name = p.relative_to(REPO)
        if len(text.splitlines()) > 400:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            size = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, ast.ClassDef) and size > 250:
                too_long.append(f"{name}:{node.name}: class of {size} lines")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and size > 60 and \
                    LONG_FUNCTION_REASON not in (ast.get_docstring(node) or ""):
                too_long.append(f"{name}:{node.name}: function of {size} lines with no reason given")
    assert too_long == []


def test_every_file_says_what_it_is():
    """Each engine, page, ui and script module opens with a docstring (what it is, how to run it)."""
    missing = [str(p.relative_to(REPO)) for p in _code_files()
               if p.read_text().strip() and ast.get_docstring(ast.parse(p.read_text())) is None]
    assert missing == []


def test_the_package_list_is_complete_and_bundled_files_are_found_without_the_checkout():
    """pyproject lists every engine package (and the shipped data); no code finds files relative to the repo."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {_module_name(p.parent / "__init__.py") for p in ENGINE.rglob("__init__.py")}
    assert listed == found | {"elad_data"}
    repo_relative = [f"{p.relative_to(REPO)}:{n}" for p in ENGINE.rglob("*.py")
                     for n, line in enumerate(p.read_text().splitlines(), 1)
                     if "REPO_ROOT" in line or re.search(r"__file__\)?\.(resolve\(\)\.)?parents?\b", line)]
    assert repo_relative == []
