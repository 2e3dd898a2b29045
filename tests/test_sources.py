"""Every source file compiles with warnings as errors: a stray backslash in a docstring (an invalid escape, or
``\\t`` silently turned into a tab) is a SyntaxWarning on Python 3.12 and an error in later versions."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("src", "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_compiles_without_warnings(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


# A timing measured on one machine goes stale in a docstring; it belongs in benchmarks/RESULTS.md.
_TIMING = re.compile(r"\b\d+(\.\d+)? ?(ms|min|seconds|GFLOP/s)\b|\b\d+(\.\d+)? s\b")


def _docstrings(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield getattr(node, "name", "<module>"), doc


@pytest.mark.parametrize("path", sorted((ROOT / "src").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_docstring_holds_a_timing(path):
    found = [f"{name}: {m.group(0)!r}" for name, doc in _docstrings(ast.parse(path.read_text(encoding="utf-8")))
             for m in _TIMING.finditer(doc)]
    assert not found, found
