"""NAR's evaluation protocol (seed 004): controller search and random search, both retrained with the original.

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
from nivalis.nas.search import NARConfig, SearchResult, budget, retrain, retrain_config, search

ARCH_ROLES = ("original", "controller", "random")

#: demo search budgets: the quick demo runs `refine search --quick`'s budget (one SGDR cycle, T_0 = 10) with fewer
#: derived candidates; the full demo two SGDR cycles (2 + 28 epochs, 2 updates of 20 children per epoch), which
#: fits the demo's ten minutes where the CLI's full budget (10 + 60 epochs, 5 updates per epoch) would not
DEMO_BUDGET = {
    True: {**budget(True), "derive_samples": 4},
    False: {"pretrain_epochs": 2, "epochs": 28, "sgdr_t0": 10, "controller_steps": 2, "derive_samples": 10,
            "baseline_decay": 0.95},
}
DEMO_WIDTH = 0.25
DEMO_IMAGE_SIZE = 16
DEMO_RETRAIN_EPOCHS = {True: 3, False: 6}
DEMO_SEEDS = 3


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


def demo_config(quick: bool) -> NARConfig:
    """The demo's search: ResNet-18 at width `DEMO_WIDTH`, block granularity, the demo budget."""
    # 20 proxy-validation images per class instead of the seed's 4 (a 10-class reward needs more than 40 images)
    return NARConfig(backbone="resnet18", granularity="block", width=DEMO_WIDTH, proxy_per_class=60,
                     proxy_val_per_class=20, batch_size=32, **DEMO_BUDGET[quick])


def run_demo(out_dir: Path, quick: bool) -> dict[str, Any]:
    """`refine_and_compare` at the demo's scale; runs go to `out_dir/runs/nar-digits`."""
    # 16×16 digits (the scans are 8×8) and a quarter-width ResNet-18 keep 2 searches + 9 retrainings in budget
    data = load_classification("digits", image_size=DEMO_IMAGE_SIZE)
    return refine_and_compare(demo_config(quick), data, seeds=DEMO_SEEDS, retrain_epochs=DEMO_RETRAIN_EPOCHS[quick],
                              out_dir=Path(out_dir) / "runs" / "nar-digits", desc="nar")


__all__ = ["ARCH_ROLES", "DEMO_BUDGET", "demo_config", "refine_and_compare", "run_demo"]
