"""Predict layer thickness with a trained snow model: on a data set, or on a new file from its checkpoint."""

from __future__ import annotations

import csv
import io as _io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nivalis.engine import (
    autocast_for,
    load_checkpoint,
    module_device,
)
from nivalis.errors import UserError
from nivalis.files import atomic_write_text
from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import (
    GraphStats,
    RadargramArrays,
    SnowGraphs,
    layer_indices,
    load_dataset,
    radargram_arrays,
)
from nivalis.snow.io import load_radargrams
from nivalis.snow.metrics import rmse_per_year
from nivalis.snow.models import create_snow_model


@torch.no_grad()
def predict_thickness(model: torch.nn.Module, dataset: SnowGraphs, precision: str = "fp32",
                      batch_size: int = 64) -> torch.Tensor:
    """[R, N, P] predicted thickness (pixels) for every radargram of `dataset`."""
    model.eval()
    outs = []
    device = module_device(model)
    for start in range(0, len(dataset), batch_size):
        sl = slice(start, start + batch_size)
        with autocast_for(precision, device.type):
            features, adjacency = dataset.features[sl].to(device), dataset.adjacency[sl].to(device)
            outs.append(model(features, adjacency).float().cpu())
    return torch.cat(outs) if outs else torch.empty(0)


def load_predictor(checkpoint: str | Path) -> tuple[torch.nn.Module, SnowConfig, GraphStats, dict[str, Any]]:
    """Rebuild a trained snow model and its graph normalisation from a `snow train` checkpoint."""
    state = load_checkpoint(checkpoint)
    meta = state.get("meta", {})
    if meta.get("task") != "snow_thickness":
        raise UserError(f"{checkpoint} is not a snow model checkpoint (from `nivalis snow train`)")
    cfg = SnowConfig.from_dict(meta["config"])
    stats = GraphStats.from_dict(meta["stats"])
    model = create_snow_model(meta["model"], **meta["model_kwargs"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise UserError(f"{checkpoint}: weights do not fit the model ({str(exc).splitlines()[0][:120]})") from None
    model.eval()
    return model, cfg, stats, meta


@dataclass
class Prediction:
    """What `nivalis snow predict` computed: the JSON result and the per-trace arrays behind it."""

    result: dict[str, Any]       # the JSON of `nivalis snow predict` (its "years" label the P axis)
    arrays: RadargramArrays      # the predicted radargrams (names, latitude/longitude in ``static``)
    roles: list[str]             # per radargram: "train", "test" (the checkpoint's split), "new" or "unknown"
    predicted: torch.Tensor      # [R, N, P] pixels, oldest year first
    tracked: torch.Tensor        # [R, N, P] pixels, the file's own layers

    def write_csv(self, path: str | Path) -> Path:
        """One row per trace: file, role, trace, position, then predicted and tracked px of every target year.

        Opens as a point layer in QGIS/ArcGIS (delimited text, x = longitude, y = latitude, WGS 84). Column names
        start with a letter and have at most 10 characters (``pred2007``, ``trk2007``), so MATLAB's `readtable`
        keeps them and a shapefile (DBF) export does not truncate them.
        """
        buf = _io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["file", "role", "trace", "latitude", "longitude",
                         *[f"{kind}{y}" for y in self.result["years"] for kind in ("pred", "trk")]])
        both = torch.stack([self.predicted, self.tracked.to(self.predicted.dtype)], -1).flatten(2).numpy()
        for name, role, static, values in zip(self.arrays.names, self.roles, self.arrays.static, both):
            for trace, ((lat, lon), row) in enumerate(zip(static[:, :2], values)):  # row: [P·2] year-major
                writer.writerow([name, role, trace, f"{lat:.7f}", f"{lon:.7f}", *[f"{v:.4f}" for v in row]])
        return atomic_write_text(Path(path), buf.getvalue())


def predict_path(checkpoint: str | Path, path: str | Path, *, survey_year: int | None = None) -> Prediction:
    """`nivalis snow predict`: the target layers' thickness at every trace of one radargram file or a folder.

    A single file that is not usable is a UserError (it says why). In a folder, unreadable and unusable
    files are skipped and counted (``data``); the result has the RMSE against the tracked layers over all
    predicted radargrams and each file's total RMSE, and the per-trace values go to `Prediction.write_csv`.
    Every radargram gets a role from the checkpoint's split: ``train`` (the model fitted it), ``test`` (held
    out by `snow train`) or ``new`` (``unknown`` for a checkpoint that does not list its training files);
    ``held_out`` is the RMSE over the test and new radargrams, the figure to trust (the all-radargram RMSE
    of a training folder is optimistic). A file that holds several radargrams (a CReSIS frame wider than
    the model's columns) is predicted like a folder. `survey_year` relabels the years (the model predicts
    layers counted from the surface; the checkpoint's years are kept when it is None).
    """
    model, cfg, stats, meta = load_predictor(checkpoint)
    path = Path(path)
    radargrams = None if path.is_dir() else load_radargrams(path)
    if radargrams is None or len(radargrams) > 1:
        arrays, summary = load_dataset(path, cfg)
    else:
        radargram = radargrams[0]
        ok, reason = radargram.usability(cfg.rows_needed, cfg.columns)
        if not ok:
            raise UserError(f"{path}: not usable for this model: {reason}")
        arrays, summary = radargram_arrays([radargram], cfg), None
    dataset = SnowGraphs.build(arrays, stats)
    pred, target = predict_thickness(model, dataset, cfg.precision), dataset.targets
    per_year, total = rmse_per_year(pred, target)
    years = list(meta["years"])
    if survey_year is not None:
        cfg.survey_year = survey_year
        years = cfg.target_years()
    tested = set(meta.get("test_files", ()))
    # checkpoints written before "train_files" was saved cannot tell a training radargram from a new one
    other = "new" if "train_files" in meta else "unknown"
    trained = set(meta.get("train_files", ()))
    roles = ["train" if name in trained else "test" if name in tested else other for name in arrays.names]
    result: dict[str, Any] = {"model": meta["model"], "years": years, "rmse_px": dict(zip(years, per_year)),
                              "total_rmse_px": total}
    if summary is None:
        result.update({"file": str(path), "role": roles[0], "notes": list(radargrams[0].notes),
                       "thickness_px": pred[0].T.tolist(),
                       "tracked_px": target[0].T.tolist(), "layer_index": layer_indices(cfg)[1],
                       "latitude": arrays.static[0, :, 0].tolist(), "longitude": arrays.static[0, :, 1].tolist()})
    else:
        per_file = [rmse_per_year(pred[i:i + 1], target[i:i + 1])[1] for i in range(len(arrays.names))]
        result.update({"folder": str(path), "data": summary.to_dict(), "predicted": len(arrays.names),
                       "roles": {r: roles.count(r) for r in ("train", "test", other)},
                       "file_rmse_px": dict(zip(arrays.names, per_file))})
        unseen = [i for i, r in enumerate(roles) if r in ("test", "new")]
        if unseen:
            held_year, held_total = rmse_per_year(pred[unseen], target[unseen])
            result["held_out"] = {"radargrams": len(unseen), "rmse_px": dict(zip(years, held_year)),
                                  "total_rmse_px": held_total}
    return Prediction(result, arrays, roles, pred, target)
