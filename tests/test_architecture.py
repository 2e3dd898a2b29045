"""The package import graph: library below, experiments and report above, no cycle among packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nivalis"
#: the generic layers every domain builds on
LOWER = {"layers", "models", "engine", "profile", "data"}
#: domain packages (a pipeline each)
DOMAINS = {"snow", "avalanche", "nas", "face"}
#: what only the CLI (and, for experiments, the report) may import
UPPER = {"experiments", "report", "cli"}


def _unit(path: Path) -> str:
    """The package a source file belongs to ('core' for modules at the package root)."""
    rel = path.relative_to(SRC)
    if rel.name == "__main__.py":  # `python -m nivalis` is the CLI
        return "cli"
    return rel.parts[0] if len(rel.parts) > 1 else "core"


def _imports(path: Path) -> set[str]:
    """Every nivalis package a file imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module + "." + a.name for a in node.names] if node.module == "nivalis" else [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "nivalis" and len(parts) > 1:
                target = parts[1]
                found.add(target if (SRC / target).is_dir() else "core")
    return found


def _graph() -> dict[str, set[tuple[str, str]]]:
    edges: dict[str, set[tuple[str, str]]] = {}
    for path in SRC.rglob("*.py"):
        unit = _unit(path)
        for target in _imports(path):
            if target != unit:
                edges.setdefault(unit, set()).add((target, str(path.relative_to(SRC))))
    return edges


def test_lower_packages_never_import_domains_or_upper_layers():
    bad = [f"{file} imports nivalis.{target}" for unit, out in _graph().items() if unit in LOWER
           for target, file in out if target in DOMAINS | UPPER]
    assert not bad, bad


def test_library_never_imports_experiments_or_report():
    bad = [f"{file} imports nivalis.{target}" for unit, out in _graph().items()
           if unit not in {"cli", "report", "experiments"} for target, file in out if target in {"experiments", "report"}]
    assert not bad, bad


def test_experiments_never_import_report_or_cli():
    bad = [f"{file} imports nivalis.{target}" for target, file in _graph().get("experiments", set())
           if target in {"report", "cli"}]
    assert not bad, bad


def test_models_never_import_profile():
    bad = [file for target, file in _graph().get("models", set()) if target == "profile"]
    assert not bad, bad


def test_no_cycle_among_packages():
    graph = {unit: {t for t, _ in out} for unit, out in _graph().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_graph_sees_a_known_edge():
    # guards the parser itself: the CLI certainly imports the engine
    assert "engine" in {t for t, _ in _graph()["cli"]} or "core" in {t for t, _ in _graph()["cli"]}
