"""NAR's evaluation protocol: search with the controller and with random search, retrain both and the original.

`refine_and_compare` is what the demo's refinement section and `benchmarks/nar_search.py` run: two
searches at the same budget (ENAS controller vs uniform random search, §3.2 and its honest baseline),
then every architecture — the original backbone (all zeros), the controller's and the random
search's — retrained from scratch with `fit` for several seeds and tested on the held-out test split.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nivalis.data import ClassificationData, load_classification
from nivalis.nas.search import NARConfig, SearchResult, retrain, retrain_config, search

ARCH_ROLES = ("original", "controller", "random")


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def refine_and_compare(config: NARConfig, data: ClassificationData | str = "digits", *, seeds: int = 3,
                       retrain_epochs: int = 15, out_dir: str | Path | None = None, data_dir: str | None = None,
                       desc: str = "nar") -> dict[str, Any]:
    """Search (controller and random), then retrain original/controller/random for `seeds` seeds each.

    Returns `{"searches": {strategy: result}, "rows": [{role, arch, flops, params, accuracies, acc_mean,
    acc_std, ...}], "search_runs": {strategy: SearchResult}, "seconds": {...}}`.
    """
    if isinstance(data, str):
        data = load_classification(data, data_dir)
    out = Path(out_dir) if out_dir is not None else None
    runs: dict[str, SearchResult] = {}
    seconds: dict[str, float] = {}
    for strategy in ("controller", "random"):
        t0 = time.perf_counter()
        runs[strategy] = search(replace(config, strategy=strategy), data,
                                out_dir=out / f"search-{strategy}" if out else None, desc=f"{desc} {strategy}")
        seconds[f"search_{strategy}"] = time.perf_counter() - t0
    found = runs["controller"].result
    specs = {"original": {**found, "arch": [0] * len(found["arch"])}, "controller": found,
             "random": runs["random"].result}
    rows = []
    t0 = time.perf_counter()
    for role in ARCH_ROLES:
        spec = specs[role]
        trained = [retrain(spec, data, config=retrain_config(epochs=retrain_epochs, seed=s,
                                                             precision=config.precision),
                           out_dir=out / f"retrain-{role}-s{s}" if out else None, desc=f"{desc} retrain {role} s{s}")
                   for s in range(seeds)]
        accs = [t["accuracy"] for t in trained]
        mean, std = _mean_std(accs)
        rows.append({"role": role, "arch": spec["arch"], "flops": trained[0]["flops"], "params": trained[0]["params"],
                     "flops_reduction": trained[0]["flops_reduction"], "accuracies": accs, "acc_mean": mean,
                     "acc_std": std, "seconds": statistics.fmean(t["seconds"] for t in trained)})
    seconds["retrain"] = time.perf_counter() - t0
    base = rows[0]
    for row in rows:
        row["acc_delta_pt"] = 100 * (row["acc_mean"] - base["acc_mean"])
    return {"searches": {k: v.result for k, v in runs.items()}, "rows": rows, "search_runs": runs,
            "seconds": seconds, "seeds": seeds, "retrain_epochs": retrain_epochs, "data": data.name,
            "train_images": len(data.train), "test_images": len(data.test)}


__all__ = ["ARCH_ROLES", "refine_and_compare"]
