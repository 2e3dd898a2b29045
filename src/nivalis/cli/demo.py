"""Run every pipeline on its embedded default data and write report.html + report.md."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup


def _section_builders():
    """(name, builder) pairs; each builder(out_dir, quick) returns a report Section."""
    from nivalis.report.sections import avalanche, classification, effnet, face, refinement, snow, zoo

    return [("classification", classification.build),
            ("effnet", effnet.build), ("zoo", zoo.build),
            ("avalanche", avalanche.build), ("refinement", refinement.build),
            ("face", face.build), ("snow", snow.build)]


def demo(
    out: Annotated[Path, typer.Option(help="Where report.html, report.md, figures and runs go.")] = Path("demo-out"),
    quick: Annotated[bool, typer.Option("--quick", help="Smaller runs (about 3 minutes here).")] = False,
    only: Annotated[str | None, typer.Option(help="Comma-separated section names to run (default: all).")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the demo: every pipeline on embedded data, one report."""
    setup(quiet)
    import sys

    from nivalis.errors import UserError
    from nivalis.files import prepare_output_dir
    from nivalis.report import Report

    prepare_output_dir(out)  # a file, /proc or a read-only folder fails now, not after the runs

    builders = _section_builders()
    if only:
        wanted = [w.strip() for w in only.split(",") if w.strip()]
        known = [name for name, _ in builders]
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise UserError(f"unknown demo section {unknown[0]!r} (one of: {', '.join(known)})")
        builders = [(name, b) for name, b in builders if name in wanted]
    t0 = time.perf_counter()
    report = Report("nivalis demo report" + (" (quick)" if quick else ""), out)
    timings = {}
    for name, build in builders:
        t = time.perf_counter()
        if not quiet:
            print(f"[demo] {name} ...", file=sys.stderr, flush=True)
        report.add(build(out, quick))
        timings[name] = round(time.perf_counter() - t, 2)
        if not quiet:
            print(f"[demo] {name} done in {timings[name]:.0f} s", file=sys.stderr, flush=True)
    paths = report.write()
    result = {"report": str(paths["report.html"]), "markdown": str(paths["report.md"]),
              "sections": [s.title for s in report.sections], "seconds": timings,
              "total_seconds": round(time.perf_counter() - t0, 2)}
    emit(result, as_json, human=f"report written: {paths['report.html']}  ({result['total_seconds']:.0f} s)")
