"""Run every pipeline on its embedded default data and write report.html + report.md."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup

#: the demo's sections in the order they run, each → the extras it needs (every section draws figures)
SECTION_EXTRAS = {"classification": ("plot",), "effnet": ("plot",), "zoo": ("plot",), "avalanche": ("geo", "xgb", "plot"),
                  "refinement": ("plot",), "face": ("face", "plot"), "snow": ("snow", "plot")}


def _selected_sections(only: str | None) -> list[str]:
    """The section names `--only` asks for (all when not given), checked, with their extras installed."""
    from nivalis.errors import UserError
    from nivalis.extras import require

    known = list(SECTION_EXTRAS)
    names = known
    if only is not None:
        wanted = [w.strip() for w in only.split(",") if w.strip()]
        if not wanted:
            raise UserError(f"--only names no section (one or more of: {', '.join(known)})")
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise UserError(f"unknown demo section {unknown[0]!r} (one of: {', '.join(known)})")
        names = [name for name in known if name in wanted]
    for name in names:  # a core install fails here, in one line, before any output and before the first section
        for extra in SECTION_EXTRAS[name]:
            require(extra, f"the demo's {name} section")
    return names


def demo(
    out: Annotated[Path, typer.Option(help="Where report.html, report.md, figures and runs go.")] = Path("demo-out"),
    quick: Annotated[bool, typer.Option("--quick", help="Smaller runs (about 3 minutes here).")] = False,
    only: Annotated[str | None, typer.Option(help="Comma-separated section names to run (default: all).")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the demo: every pipeline on embedded data, one report."""
    setup(quiet)
    import importlib
    import sys

    from nivalis.files import prepare_output_dir
    from nivalis.report import Report

    names = _selected_sections(only)
    prepare_output_dir(out)  # a file, /proc or a read-only folder fails now, not after the runs
    t0 = time.perf_counter()
    report = Report("nivalis demo report" + (" (quick)" if quick else ""), out)
    timings = {}
    for name in names:
        t = time.perf_counter()
        if not quiet:
            print(f"[demo] {name} ...", file=sys.stderr, flush=True)
        report.add(importlib.import_module(f"nivalis.report.sections.{name}").build(out, quick))
        timings[name] = round(time.perf_counter() - t, 2)
        if not quiet:
            print(f"[demo] {name} done in {timings[name]:.0f} s", file=sys.stderr, flush=True)
    paths = report.write()
    result = {"report": str(paths["report.html"]), "markdown": str(paths["report.md"]),
              "sections": [s.title for s in report.sections], "seconds": timings,
              "total_seconds": round(time.perf_counter() - t0, 2)}
    emit(result, as_json, human=f"report written: {paths['report.html']}  ({result['total_seconds']:.0f} s)")
