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


# --- the module import graph (issue #33): every module, function-level imports included ---------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph() -> dict[str, set[str]]:
    """Module → the nivalis modules it imports anywhere in its body.

    `from pkg import name` is an edge to `pkg.name` where that is a module, else to `pkg`; a package's parents, which
    Python imports first, are not edges (they are not a cycle a reader could break).
    """
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out |= {known(a.name) for a in node.names if a.name.startswith("nivalis")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                if base == "nivalis" or base.startswith("nivalis."):
                    out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else known(base) for a in node.names}
        graph[name] = out - {name, ""}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_cycle_among_modules():
    assert _cycles(_module_graph()) == []


def test_module_graph_finds_a_planted_cycle():
    # guards the scan: function-level imports count, and a cycle through them is found
    graph = _module_graph()
    assert "nivalis.cli.app" in graph and "nivalis.errors" in graph["nivalis.cli.app"]
    planted = {**graph, "nivalis.errors": graph["nivalis.errors"] | {"nivalis.lazy"},
               "nivalis.lazy": graph["nivalis.lazy"] | {"nivalis.errors"}}
    assert ["nivalis.errors", "nivalis.lazy"] in _cycles(planted)


def _first_paragraph(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.split("\n\n")[0]


def test_cli_modules_stay_thin():
    """A command parses options and calls one library function: no CLI module grows past 250 lines."""
    long = {p.name: n for p in (SRC / "cli").glob("*.py") if (n := len(p.read_text().splitlines())) > 250}
    assert not long, long


def test_long_modules_say_why_at_the_top():
    """A module over 450 lines says in its docstring's first paragraph why it is one module."""
    bad = []
    for path in SRC.rglob("*.py"):
        if len(path.read_text(encoding="utf-8").splitlines()) > 450:
            head = _first_paragraph(path).lower()
            if not any(word in head for word in ("one module", "long because", "kept together", "in one file")):
                bad.append(str(path.relative_to(SRC)))
    assert not bad, bad
