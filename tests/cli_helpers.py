"""Test helpers: run the CLI as a user would and check its error contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        lines = [ln for ln in self.out.splitlines() if ln.strip()]
        assert len(lines) == 1, f"--json must print exactly one line on stdout, got: {self.out!r}"
        return json.loads(lines[0])


def invoke(*args: str) -> CliResult:
    """Run the CLI in this process (fast; for argument and error handling)."""
    import contextlib
    import io

    from nivalis.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


def run_cli(*args: str, timeout: float = 600, env: dict | None = None) -> CliResult:
    """Run `python -m nivalis ARGS` in a fresh process (no TTY, so no progress bars)."""
    proc = subprocess.run([sys.executable, "-m", "nivalis", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_user_error(result: CliResult, fragment: str = "") -> None:
    """Exit 2, exactly one `error: ...` line on stderr, no traceback, nothing on stdout."""
    assert result.code == 2, (result.code, result.err)
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err
    assert fragment.lower() in lines[0].lower(), lines[0]
