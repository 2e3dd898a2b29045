"""A finished run's records next to its checkpoint: `metrics.json` and the per-epoch `history.csv`."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from nivalis.files import atomic_write_text


def write_run_files(out_dir: str | os.PathLike, result: dict, history: list[dict]) -> None:
    """Write `metrics.json` (the result) and `history.csv` (one row per epoch), each atomically."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "metrics.json", json.dumps(result, indent=2))
    if history:
        fields = list(dict.fromkeys(k for row in history for k in row))  # every key of any epoch, in order
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
        atomic_write_text(out_dir / "history.csv", buf.getvalue())
