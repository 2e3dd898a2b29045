"""Append one measured result to `benchmarks/RESULTS.md`: date, machine, the exact command, and its table.

Every benchmark script ends with `record(title, table_markdown)`; measured numbers live here and in the
notes, never in docstrings (they go stale there).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
_HEADER = ("# Benchmark results\n\nWritten by the scripts in `benchmarks/` (newest last). Each entry names the date, "
           "the machine and the exact command; rerun the command to check a figure on your machine.\n")


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} logical CPUs{gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def record(title: str, body: str, *, results: Path = RESULTS) -> Path:
    """Append `body` (Markdown: usually a table) under `title` with date, machine and command; atomically."""
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])] + sys.argv[1:])
    stamp = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    entry = f"\n## {title}\n\n- date: {stamp}\n- machine: {machine()}\n- command: `{command}`\n\n{body.rstrip()}\n"
    old = results.read_text(encoding="utf-8") if results.exists() else _HEADER
    tmp = results.with_name(f".{results.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(old + entry, encoding="utf-8")
        os.replace(tmp, results)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"appended to {results}", file=sys.stderr)
    return results


def publish(title: str, lines: list[str], *, results: Path = RESULTS) -> Path:
    """Print the table `lines` (after a blank line) and `record` it under `title`."""
    table = "\n".join(lines)
    print()
    print(table)
    return record(title, table, results=results)
