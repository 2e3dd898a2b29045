"""Predict layer thickness with a trained snow model: on a data set, or on a new file from its checkpoint."""

from __future__ import annotations

import csv
import hashlib
import io as _io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nivalis.engine import (
    autocast_for,
    load_checkpoint,
    module_device,
)
from nivalis.errors import UserError
from nivalis.files import atomic_path, atomic_write_text
from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import (
    GraphStats,
    RadargramArrays,
    SnowGraphs,
    haversine_m,
    layer_indices,
    load_usable,
    radargram_arrays,
    thickness_units,
)
from nivalis.snow.metrics import rmse_per_year
from nivalis.snow.models import create_snow_model
from nivalis.snow.readers.dispatch import load_radargrams
from nivalis.snow.units import FirnModel

# EPSG:3413, WGS 84 / NSIDC Sea Ice Polar Stereographic North: variant B, true scale at 70° N, central meridian -45°
WGS84_A = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
EPSG3413_LAT_TS = 70.0
EPSG3413_LON0 = -45.0


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_keys(arrays: RadargramArrays) -> list[str] | None:
    """Per radargram: the sha256 of its file's bytes, plus the cut's suffix for a frame cut into several.

    A frame wider than the model's columns gives radargrams ``FRAME_t00000``, ``FRAME_t00256``, ... of one file;
    the suffix after the file's stem (``_t00256``) keeps them apart. None when the sources are not known.
    """
    if arrays.sources is None:
        return None
    hashes: dict[str, str] = {}
    keys = []
    for name, source in zip(arrays.names, arrays.sources):
        if source not in hashes:
            hashes[source] = file_sha256(source)
        stem = Path(source).stem
        keys.append(hashes[source] + (name[len(stem):] if name.startswith(stem) else ""))
    return keys


def epsg3413(latitude: np.ndarray, longitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) metres in EPSG:3413 of WGS 84 degrees: the ellipsoidal polar stereographic of Snyder (1987) §21.

    .. math::
        t = \\tan(\\pi/4 - \\phi/2) \\Big/ \\left(\\frac{1 - e \\sin\\phi}{1 + e \\sin\\phi}\\right)^{e/2},
        \\quad m_c = \\frac{\\cos\\phi_c}{\\sqrt{1 - e^2 \\sin^2\\phi_c}}, \\quad
        \\rho = a\\, m_c\\, t / t_c, \\quad x = \\rho \\sin(\\lambda - \\lambda_0), \\quad y = -\\rho \\cos(\\lambda - \\lambda_0)

    with :math:`\\phi_c = 70°` (latitude of true scale), :math:`\\lambda_0 = -45°`, no false easting or northing.
    """
    e = np.sqrt(WGS84_F * (2.0 - WGS84_F))
    phi = np.radians(np.asarray(latitude, dtype=np.float64))
    lam = np.radians(np.asarray(longitude, dtype=np.float64) - EPSG3413_LON0)

    def t_of(p):
        es = e * np.sin(p)
        return np.tan(np.pi / 4 - p / 2) / ((1 - es) / (1 + es)) ** (e / 2)

    phi_c = np.radians(EPSG3413_LAT_TS)
    m_c = np.cos(phi_c) / np.sqrt(1 - (e * np.sin(phi_c)) ** 2)
    rho = WGS84_A * m_c * t_of(phi) / t_of(phi_c)
    return rho * np.sin(lam), -rho * np.cos(lam)


def along_track_m(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """[N] haversine distance (m) along the track from its first trace (the sum of trace-to-trace steps)."""
    lat, lon = np.asarray(latitude, dtype=np.float64), np.asarray(longitude, dtype=np.float64)
    steps = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    return np.concatenate([[0.0], np.cumsum(steps)])


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
    predicted_m: np.ndarray = field(default_factory=lambda: np.empty(0))      # [R, N, P] metres of firn
    predicted_mwe: np.ndarray = field(default_factory=lambda: np.empty(0))    # [R, N, P] metres water equivalent
    tracked_mwe: np.ndarray = field(default_factory=lambda: np.empty(0))      # [R, N, P] the tracked layers'

    def columns(self, epsg3413_columns: bool = False) -> tuple[list[str], list[np.ndarray]]:
        """(names, columns) of the per-trace table: one entry per trace of every predicted radargram (a
        `Prediction` holds at least one: `predict_path` refuses a path with none usable).

        Names start with a letter and have at most 10 characters, so MATLAB's `readtable` keeps them and a
        shapefile (DBF) export does not truncate them: ``pred2007``/``trk2007`` (px), ``m2007`` (predicted m),
        ``mwe2007``/``trkmwe2007`` (predicted and tracked m w.e.), ``along_m`` (haversine distance along the
        radargram from its first trace) and, with `epsg3413_columns`, ``x_3413``/``y_3413`` (metres, NSIDC polar
        stereographic north).
        """
        years = self.result["years"]
        names = ["file", "role", "trace", "latitude", "longitude",
                 *[f"{kind}{y}" for y in years for kind in ("pred", "trk")],
                 *[f"{kind}{y}" for y in years for kind in ("m", "mwe", "trkmwe")], "along_m"]
        n_traces = [len(static) for static in self.arrays.static]
        files = np.repeat(np.asarray(self.arrays.names, dtype=object), n_traces)
        roles = np.repeat(np.asarray(self.roles, dtype=object), n_traces)
        trace = np.concatenate([np.arange(n, dtype=np.int32) for n in n_traces])
        static = np.concatenate([np.asarray(s, dtype=np.float64)[:, :2] for s in self.arrays.static])
        px = torch.stack([self.predicted, self.tracked.to(self.predicted.dtype)], -1).flatten(2).numpy()
        phys = np.stack([self.predicted_m, self.predicted_mwe, self.tracked_mwe], -1).reshape(*px.shape[:2], -1)
        values = np.concatenate([px.reshape(-1, px.shape[-1]), phys.reshape(-1, phys.shape[-1])], 1).astype(np.float64)
        along = np.concatenate([along_track_m(s[:, 0], s[:, 1]) for s in self.arrays.static])
        data = [files, roles, trace, static[:, 0], static[:, 1], *values.T, along]
        if epsg3413_columns:
            x, y = epsg3413(static[:, 0], static[:, 1])
            names, data = [*names, "x_3413", "y_3413"], [*data, x, y]
        return names, data

    def write_csv(self, path: str | Path, *, epsg3413_columns: bool = False) -> Path:
        """One row per trace: file, role, trace, position, predicted and tracked px of every target year, m and
        m w.e., ``along_m`` and (`epsg3413_columns`) ``x_3413``/``y_3413``: the GeoPackage layer's columns.

        Opens as a point layer in QGIS/ArcGIS (delimited text, x = longitude, y = latitude, WGS 84).
        """
        names, data = self.columns(epsg3413_columns)
        n_years = len(self.result["years"])
        metres = len(names) - 5 - 5 * n_years   # along_m and x_3413/y_3413: millimetres
        formats = ["{}", "{}", "{}", "{:.7f}", "{:.7f}", *["{:.4f}"] * (2 * n_years), *["{:.6f}"] * (3 * n_years),
                   *["{:.3f}"] * metres]
        buf = _io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(names)
        for row in zip(*data):
            writer.writerow([f.format(v) for f, v in zip(formats, row, strict=True)])
        return atomic_write_text(Path(path), buf.getvalue())

    def write_gpkg(self, path: str | Path, *, epsg3413_columns: bool = False) -> Path:
        """A GeoPackage point layer ``prediction`` in WGS 84 (EPSG:4326): one point per trace with the CSV's columns
        (`columns`), ``x_3413``/``y_3413`` with `epsg3413_columns`."""
        import pyogrio.raw
        import shapely

        names, data = self.columns(epsg3413_columns)
        lat, lon = data[3], data[4]
        geometry = shapely.to_wkb(shapely.points(lon, lat))
        with atomic_path(path) as tmp:
            pyogrio.raw.write(str(tmp), geometry, data, names, layer="prediction", driver="GPKG",
                              geometry_type="Point", crs="EPSG:4326")
        return Path(path)


def predict_path(checkpoint: str | Path, path: str | Path, *, survey_year: int | None = None,
                 firn: FirnModel | None = None) -> Prediction:
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

    Roles compare the sha256 of each file's bytes with the checkpoint's ``train_sha256``/``test_sha256``, so a
    renamed or moved copy of a training file is still ``train``; a checkpoint without them (written before
    they were stored) compares file names, and ``role_note`` says so. Thicknesses are also given in metres
    and m w.e. (`thickness_units`, with `firn` for what the file does not tell: pixel size, density).
    """
    model, cfg, stats, meta = load_predictor(checkpoint)
    firn = firn or FirnModel()
    path = Path(path)
    radargrams = None if path.is_dir() else load_radargrams(path)
    if radargrams is None or len(radargrams) > 1:
        radargrams, summary = load_usable(path, cfg)
    else:
        radargram = radargrams[0]
        ok, reason = radargram.usability(cfg.rows_needed, cfg.columns)
        if not ok:
            raise UserError(f"{path}: not usable for this model: {reason}")
        summary = None
    arrays = radargram_arrays(radargrams, cfg)
    dataset = SnowGraphs.build(arrays, stats)
    pred, target = predict_thickness(model, dataset, cfg.precision), dataset.targets
    per_year, total = rmse_per_year(pred, target)
    years = list(meta["years"])
    if survey_year is not None:
        cfg.survey_year = survey_year
        years = cfg.target_years()
    roles, role_note = _roles(arrays, meta)
    other = "unknown" if "train_files" not in meta else "new"
    pred_m, pred_mwe, trk_mwe = [], [], []
    sources: set[tuple[str, str]] = set()
    for radargram, values in zip(radargrams, pred.numpy()):
        metres, mwe, depth_from, density_from = thickness_units(radargram, cfg, firn, values.T)
        pred_m.append(metres.T)
        pred_mwe.append(mwe.T)
        trk_mwe.append(thickness_units(radargram, cfg, firn)[1].T)
        sources.add((depth_from, density_from))
    pred_m_arr, pred_mwe_arr, trk_mwe_arr = np.stack(pred_m), np.stack(pred_mwe), np.stack(trk_mwe)

    def means(px: np.ndarray, metres: np.ndarray, mwe: np.ndarray) -> dict[str, dict[str, float]]:
        """Mean thickness per predicted year (over traces and radargrams) in px, m and m w.e."""
        return {key: dict(zip(years, (float(v) for v in np.nanmean(a.reshape(-1, a.shape[-1]), 0))))
                for key, a in (("thickness_px", px), ("thickness_m", metres), ("thickness_mwe", mwe))}

    result: dict[str, Any] = {"model": meta["model"], "years": years, "rmse_px": dict(zip(years, per_year)),
                              "total_rmse_px": total,
                              "units": {"depth_from": sorted({d for d, _ in sources}),
                                        "density": sorted({d for _, d in sources})},
                              "role_by": "name" if role_note else "sha256"}
    if role_note:
        result["role_note"] = role_note
    if summary is None:
        result.update({"file": str(path), "role": roles[0], "notes": list(radargrams[0].notes),
                       "thickness_px": pred[0].T.tolist(), "thickness_m": pred_m_arr[0].T.tolist(),
                       "thickness_mwe": pred_mwe_arr[0].T.tolist(),
                       "mean": means(pred.numpy(), pred_m_arr, pred_mwe_arr),
                       "tracked_px": target[0].T.tolist(), "layer_index": layer_indices(cfg)[1],
                       "latitude": arrays.static[0, :, 0].tolist(), "longitude": arrays.static[0, :, 1].tolist()})
    else:
        per_file = [rmse_per_year(pred[i:i + 1], target[i:i + 1])[1] for i in range(len(arrays.names))]
        result.update({"folder": str(path), "data": summary.to_dict(), "predicted": len(arrays.names),
                       "roles": {r: roles.count(r) for r in ("train", "test", other)},
                       "file_rmse_px": dict(zip(arrays.names, per_file)),
                       **means(pred.numpy(), pred_m_arr, pred_mwe_arr),
                       "files": {name: means(pred[i:i + 1].numpy(), pred_m_arr[i:i + 1], pred_mwe_arr[i:i + 1])
                                 for i, name in enumerate(arrays.names)}})
        unseen = [i for i, r in enumerate(roles) if r in ("test", "new")]
        if unseen:
            held_year, held_total = rmse_per_year(pred[unseen], target[unseen])
            result["held_out"] = {"radargrams": len(unseen), "rmse_px": dict(zip(years, held_year)),
                                  "total_rmse_px": held_total}
    return Prediction(result, arrays, roles, pred, target, pred_m_arr, pred_mwe_arr, trk_mwe_arr)


def _roles(arrays: RadargramArrays, meta: dict[str, Any]) -> tuple[list[str], str | None]:
    """(role per radargram, a note when the checkpoint could only be matched by file name)."""
    if "train_files" not in meta:  # checkpoints written before "train_files" was saved cannot tell train from new
        tested = set(meta.get("test_files", ()))
        return (["test" if name in tested else "unknown" for name in arrays.names],
                "the checkpoint lists no training files: radargrams not in its test split are 'unknown'")
    if meta.get("train_sha256") is not None and meta.get("test_sha256") is not None:
        trained, tested = set(meta["train_sha256"]), set(meta["test_sha256"])
        keys = content_keys(arrays) or []
        return ["train" if key in trained else "test" if key in tested else "new" for key in keys], None
    trained, tested = set(meta["train_files"]), set(meta.get("test_files", ()))
    return (["train" if name in trained else "test" if name in tested else "new" for name in arrays.names],
            "the checkpoint has no content hashes of its files (written before they were stored): roles are "
            "decided by file name, so a renamed training file counts as 'new'")
