"""Options and output shared by every command: --json, --quiet, one-line errors."""

from __future__ import annotations

import functools
import inspect
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from nivalis.progress import set_quiet

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else there.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="With --resume: continue a checkpoint of another run (other "
                                                        "data, model or settings); the result records it.")]


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


def _rank0() -> bool:
    """Whether this process prints: always, except a rank other than 0 under torchrun (its global RANK; the engine
    need not be imported to know it)."""
    import os

    return os.environ.get("RANK", "0") == "0"


def warn(message: str) -> None:
    """One `warning: ...` line on stderr (rank 0 only under torchrun), as the CLI prints every warning."""
    if _rank0():
        print(f"warning: {' '.join(message.split())}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    """Print `result` as one JSON object (--json) or as readable lines; only rank 0 prints under torchrun."""
    if not _rank0():
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


def option_group(name: str, options: dict, defaults: dict, build):
    """A decorator: the command's parameter `name` becomes `options` (name → option) with `defaults` on the command
    line, in its place, and the command is called with ``name=build(**their values)``."""
    def decorate(command):
        signature = inspect.signature(command, eval_str=True)
        group = [inspect.Parameter(key, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=option,
                                   default=defaults[key]) for key, option in options.items()]
        parameters = [q for p in signature.parameters.values() for q in (group if p.name == name else [p])]

        @functools.wraps(command)
        def grouped(**values):
            built = build(**{key: values.pop(key) for key in options})
            return command(**values, **{name: built})

        grouped.__signature__ = signature.replace(parameters=parameters)
        grouped.__annotations__ = {p.name: p.annotation for p in parameters}
        return grouped
    return decorate
