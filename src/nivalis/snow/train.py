"""Train one snow model (seed 000 §III): data set, 4:1 splits, seeded models, the engine's fit, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from nivalis.engine import (
    TrainConfig,
    fit,
    get_context,
    regression_task,
    seed_everything,
)
from nivalis.engine.records import write_run_files
from nivalis.errors import UserError
from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import (
    GraphStats,
    SnowGraphs,
    fit_graph_stats,
    load_dataset,
)
from nivalis.snow.metrics import rmse_per_year
from nivalis.snow.models import create_snow_model, snow_model_kwargs
from nivalis.snow.predict import content_keys, predict_thickness


def split_indices(n: int, cfg: SnowConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """`cfg.splits` random permutations of n radargrams, each cut 4:1 into (train, test) (seed 000 §III)."""
    n_test = int(round(n * cfg.test_fraction))
    if n_test < 1 or n - n_test < 1:
        raise UserError(f"{n} usable radargrams are too few for a {1 - cfg.test_fraction:.0%}/{cfg.test_fraction:.0%} split")
    rng = np.random.default_rng(cfg.seed)
    out = []
    for _ in range(cfg.splits):
        perm = rng.permutation(n)
        out.append((np.sort(perm[:n - n_test]), np.sort(perm[n - n_test:])))
    return out


def _train_config(cfg: SnowConfig, seed: int, epochs: int | None = None) -> TrainConfig:
    return TrainConfig(epochs=epochs or cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer="adam",
                       scheduler="none", seed=seed, precision=cfg.precision, eval_batch_size=64,
                       device=cfg.device)


def build_model(name: str, stats: GraphStats, cfg: SnowConfig, seed: int) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A freshly initialised model (seeded) whose output scale is the training targets'."""
    kwargs = snow_model_kwargs(name, cfg, len(stats.feature_names), stats.n_static)
    seed_everything(seed)
    model = create_snow_model(name, **kwargs)
    model.head.set_target_scale(stats.target_mean, stats.target_std)
    return model, kwargs


# --------------------------------------------------------------------------------------------- train / predict


def train_snow(data_dir: str | Path, model_name: str, cfg: SnowConfig, out_dir: str | Path, *, resume: bool = False,
               split: int = 0, force: bool = False) -> dict[str, Any]:
    """`nivalis snow train`: fit one model on split `split`'s training set, checkpoint every epoch, test once."""
    cfg.validate()
    arrays, summary = load_dataset(data_dir, cfg)
    splits = split_indices(len(arrays), SnowConfig.from_dict({**cfg.to_dict(), "splits": max(cfg.splits, split + 1)}))
    train_idx, test_idx = splits[split]
    train_arrays, test_arrays = arrays.subset(train_idx), arrays.subset(test_idx)
    stats = fit_graph_stats(train_arrays)
    train_set, test_set = SnowGraphs.build(train_arrays, stats), SnowGraphs.build(test_arrays, stats)
    seed = cfg.seed * 1000 + split
    model, kwargs = build_model(model_name, stats, cfg, seed)
    meta = {"task": "snow_thickness", "model": model_name, "model_kwargs": kwargs, "stats": stats.to_dict(),
            "config": cfg.to_dict(), "years": cfg.target_years(), "split": split,
            "train_files": list(train_arrays.names), "test_files": list(test_arrays.names),
            # what `snow predict` recognises a training file by when it was renamed or copied elsewhere
            "train_sha256": content_keys(train_arrays), "test_sha256": content_keys(test_arrays)}
    fitted = fit(model, train_set, test_set, config=_train_config(cfg, seed), task=regression_task(), out_dir=out_dir,
                 resume=resume, meta=meta, desc=model_name, force=force)
    pred = predict_thickness(model, test_set, cfg.precision)
    per_year, total = rmse_per_year(pred, test_set.targets)
    result = {"model": model_name, "rmse": dict(zip(cfg.target_years(), per_year)), "total_rmse": total,
              "train_radargrams": len(train_set), "test_radargrams": len(test_set), "epochs": cfg.epochs,
              "precision": cfg.precision, **({"resumed": fitted.resume} if fitted.resume else {}),
              "params": sum(p.numel() for p in model.parameters()), "seconds": round(fitted.seconds, 3),
              "checkpoint": str(fitted.checkpoint) if fitted.checkpoint else None, "data": summary.to_dict()}
    if get_context().is_main:
        write_run_files(out_dir, result, fitted.history)
    return result
