"""A finished run's records next to its checkpoint: `metrics.json` and the per-epoch `history.csv`."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path


def write_run_files(out_dir: str | os.PathLike, result: dict, history: list[dict]) -> None:
    """Write `metrics.json` (the result) and `history.csv` (one row per epoch), each atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".metrics.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out_dir / "metrics.json")
    if history:
        tmp = out_dir / ".history.csv.tmp"
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[-1].keys()))
            writer.writeheader()
            writer.writerows(history)
        os.replace(tmp, out_dir / "history.csv")
