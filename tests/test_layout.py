"""The package's shape: no import cycles (TYPE_CHECKING imports included), the query
engine free of frontends, frontends independent of one another, small modules, and a
docstring on every module saying what it owns."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "logcaster"
MAX_LINES = 400


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every logcaster module ``name`` imports, at any level (functions, TYPE_CHECKING)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            # ``from pkg import submodule`` imports the submodule itself.
            targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_graph_is_read() -> None:
    assert "logcaster.query.engine" in GRAPH["logcaster.app"]
    assert "logcaster.storage.ring" in GRAPH["logcaster.query.engine"]


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def closure(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in GRAPH[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_engine_and_storage_know_no_frontend_input_or_app() -> None:
    for name in MODULES:
        if name.startswith(("logcaster.query", "logcaster.storage", "logcaster.pipeline")):
            bad = {
                d
                for d in closure(name)
                if d.startswith(("logcaster.frontends", "logcaster.inputs"))
                or d in ("logcaster.app", "logcaster.cli", "logcaster.net")
            }
            assert not bad, f"{name} depends on {sorted(bad)}"


def frontend_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "frontends" else None


def test_no_frontend_imports_another() -> None:
    for name in MODULES:
        own = frontend_of(name)
        if own is None:
            continue
        for dep in GRAPH[name]:
            other = frontend_of(dep)
            assert other in (None, own), f"{name} imports {dep}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small_and_says_what_it_owns(name: str) -> None:
    path = MODULES[name]
    text = path.read_text()
    assert text.count("\n") <= MAX_LINES, f"{path.name}: {text.count(chr(10))} lines"
    tree = ast.parse(text)
    if name != "logcaster.__main__":
        assert ast.get_docstring(tree), f"{name} has no docstring"
