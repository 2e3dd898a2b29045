"""Layer statistics of a simulated Snow Radar campaign beside the published ones of real labelled layers.

The simulator's defaults are calibrated on these published statistics (issue 21; `nivalis.snow.simulate`
docstring): per annual layer a mean thickness of 44–67 px (2011→2007: 44.5, 67.0, 60.7, 50.4, 65.2), a
within-radargram CV of ≈ 3 %, a between-radargram CV of 15–39 % per year, 16–28 tracked layers, images of
1200–1700 rows. This script measures them on a campaign (usable radargrams, as the seed's test set), plus the
usable share and how far the deepest tracked boundary wanders inside one radargram, and records the table.

    python benchmarks/snow_simulator_stats.py                     # the default campaign: 816 radargrams, seed 0
    python benchmarks/snow_simulator_stats.py --radargrams 200 --seed 1 --no-record
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from results import record  # benchmarks/results.py, beside this script

REAL = {"thickness_px": [44.5, 67.0, 60.7, 50.4, 65.2], "within_cv": "≈ 0.03", "between_cv": "0.15–0.39",
        "tracked_layers": "16–28"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--radargrams", type=int, default=816)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args()
    from nivalis.snow import load_radargram_folder
    from nivalis.snow.simulate import SimulatorConfig, campaign_statistics, simulate_campaign

    cfg = SimulatorConfig(radargrams=args.radargrams, seed=args.seed, fmt="v5", echograms=True)
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate_campaign(Path(tmp), cfg)
        radargrams, summary = load_radargram_folder(tmp, include_unusable=True, echogram=True)
        usable = [r for r in radargrams if r.usability()[0]]
        stats = campaign_statistics(usable)
        heights = [r.echogram.shape[0] for r in radargrams]
        wander = max(float(np.nanmax(np.nanmax(r.layers, 1) - np.nanmin(r.layers, 1))) for r in usable)
    rows = [
        ("mean thickness per layer 2011→2007 (px)", stats["thickness_px"], REAL["thickness_px"]),
        ("within-radargram CV per layer", stats["within_cv"], REAL["within_cv"]),
        ("between-radargram CV per layer", stats["between_cv"], REAL["between_cv"]),
        ("tracked layer rows (min, median, max)", stats["tracked_layers"], REAL["tracked_layers"]),
        ("usable radargrams", f"{len(usable)} of {sim['files']}", "568 of 816 (seed 000 §III)"),
        ("image rows (min, max)", [min(heights), max(heights)], "1200–1700"),
        ("largest along-track range of one tracked boundary (m)", round(wander * cfg.pixel_m, 2), "-"),
    ]
    body = (f"Simulated campaign: {sim['files']} radargrams, seed {args.seed}, {sim['flights']} flights, "
            f"pixel_m {cfg.pixel_m} m; statistics over the {len(usable)} usable radargrams.\n\n"
            "| statistic | simulated | real (published) |\n|---|---|---|\n"
            + "".join(f"| {name} | {sim_v} | {real_v} |\n" for name, sim_v, real_v in rows))
    print(body)
    if not args.no_record:
        record("Snow simulator: layer statistics against the published real ones", body)


if __name__ == "__main__":
    main()
