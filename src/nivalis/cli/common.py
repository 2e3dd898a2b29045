"""Options and output shared by every command: --json, --quiet, one-line errors."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from nivalis.progress import set_quiet

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else there.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def setup(quiet: bool) -> None:
    set_quiet(quiet)


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def emit(result: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    """Print `result` as one JSON object (--json) or as readable lines; only rank 0 prints under torchrun."""
    import os

    if os.environ.get("RANK", "0") != "0":  # torchrun's global rank (the engine need not be imported to know it)
        return
    result = _plain(result)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        return
    if human is not None:
        print(human)
        return
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, (list, dict)):
            text = json.dumps(value)
            value = text if len(text) <= 100 else text[:97] + "..."
        print(f"{key:>16}: {value}")
