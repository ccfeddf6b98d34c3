"""The layout is the design: core has one folder per concept, no Prefect, and no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
FOUNDATIONS = {"__init__", "cli", "clock", "config", "errors", "events", "ids", "money"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for p in CORE.rglob("*.py") if "migrations" not in p.parts]
    modules = {_module_name(p): p for p in files}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_core_has_no_import_circles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1 and not nxt.startswith(node + "."):
                circles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_core_imports_no_prefect() -> None:
    offenders = [str(p) for p in CORE.rglob("*.py") if any(m.split(".")[0] == "prefect" for m in _imports(p))]
    assert offenders == []


def test_core_top_level_holds_only_foundations() -> None:
    flat = {p.stem for p in CORE.glob("*.py")}
    assert flat <= FOUNDATIONS, f"group these by concept: {sorted(flat - FOUNDATIONS)}"
