"""Radargrams → temporal graphs (seed 000 §IV-D): node features, haversine edge weights, normalisation.

Each radargram becomes ``T`` (= 10) graphs over its 256 traces, one per feature layer, oldest first.
Node features of graph t are (latitude, longitude, thickness of layer t) plus, optionally, extra fields
from the file (static ones such as ``Elevation``, per-layer ones such as ``curr_smb``). Graphs are fully
connected and undirected, every edge weighted by the inverse haversine distance of its two traces:

.. math::
    A_{ij} = \\frac{1}{d_{ij}}, \\qquad
    d_{ij} = 2 R \\arcsin \\sqrt{\\operatorname{hav}(\\phi_j - \\phi_i)
        + \\cos\\phi_i \\cos\\phi_j \\operatorname{hav}(\\lambda_j - \\lambda_i)},
    \\qquad \\operatorname{hav}(\\theta) = \\sin^2(\\theta / 2)

(the seed prints the formula without the square root and the Earth radius R; the square root is the
haversine distance's, and R cancels in the min-max normalisation). Node features are z-scored per
channel and edge weights min-max normalised,
:math:`A \\leftarrow (A - A_{min}) / (A_{max} - A_{min})`, with statistics of the *training* radargrams
only (stored in checkpoints so `predict` applies the same). Self-distances are excluded (diagonal 0) and
distances are floored at 1 m, so duplicated trace positions cannot make a weight infinite. Targets are
the thicknesses (pixels) of the target layers, ordered oldest year first as in Table II.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from nivalis.config import ConfigDict
from nivalis.errors import UserError
from nivalis.snow.config import SnowConfig
from nivalis.snow.readers.dispatch import FolderSummary, load_radargram_folder
from nivalis.snow.readers.radargram import Radargram
from nivalis.snow.units import FirnModel, rebuilt_layer_units

EARTH_RADIUS_M = 6_371_000.0
STATIC_FEATURES = ("latitude", "longitude")


def haversine_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres between points given in degrees (numpy broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    hav = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))


def inverse_distance(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """``[..., N, N]`` edge weights 1/d (metres⁻¹) of fully connected graphs, zero on the diagonal."""
    lat = np.asarray(latitude, dtype=np.float64)
    lon = np.asarray(longitude, dtype=np.float64)
    d = haversine_m(lat[..., :, None], lon[..., :, None], lat[..., None, :], lon[..., None, :])
    w = 1.0 / np.maximum(d, 1.0)
    n = lat.shape[-1]
    w[..., np.arange(n), np.arange(n)] = 0.0
    return w


def layer_indices(cfg: SnowConfig) -> tuple[list[int], list[int]]:
    """(feature thickness indices in sequence order, target thickness indices oldest first); 0 = top layer."""
    p, t = cfg.target_layers, cfg.feature_layers
    if cfg.direction == "deep_to_shallow":
        return list(range(p + t - 1, p - 1, -1)), list(range(p - 1, -1, -1))
    return list(range(t)), list(range(t + p - 1, t - 1, -1))


def _field_kind(radargram: Radargram, name: str) -> str:
    if name.lower() == "elevation":
        if radargram.elevation is None:
            raise KeyError(name)
        return "static"
    value = radargram.fields[name]  # KeyError when absent
    return "static" if value.ndim == 1 else "layer"


@dataclass
class RadargramArrays:
    """Raw (un-normalised) arrays of a set of radargrams, aligned with the config's layer choice."""

    names: list[str]
    static: np.ndarray        # [R, N, Fs] latitude, longitude, static extras
    dynamic: np.ndarray       # [R, T, N, Fd] thickness of each feature layer, per-layer extras
    targets: np.ndarray       # [R, N, P] pixels, oldest year first
    weights: np.ndarray       # [R, N, N] 1/d
    feature_names: list[str]
    n_static: int
    sources: list[str] | None = None  # per radargram: the file it was read from (its content hash tags roles)
    mwe_per_px: np.ndarray | None = None  # [R, N, P] m w.e. per pixel of each tracked target layer (`load_dataset`)
    mwe_source: str = ""                  # how those m w.e. were obtained (depth and density sources)

    def __len__(self) -> int:
        return len(self.names)

    def to_payload(self) -> dict[str, Any]:
        """What another process needs to rebuild these arrays (edge weights are recomputed from positions)."""
        return {"names": self.names, "static": self.static, "dynamic": self.dynamic, "targets": self.targets,
                "feature_names": self.feature_names, "n_static": self.n_static, "mwe_per_px": self.mwe_per_px,
                "mwe_source": self.mwe_source}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RadargramArrays:
        static = payload["static"]
        return cls(list(payload["names"]), static, payload["dynamic"], payload["targets"],
                   inverse_distance(static[..., 0], static[..., 1]), list(payload["feature_names"]),
                   int(payload["n_static"]), mwe_per_px=payload.get("mwe_per_px"),
                   mwe_source=payload.get("mwe_source", ""))

    def subset(self, index: Sequence[int]) -> RadargramArrays:
        idx = np.asarray(index, dtype=np.int64)
        return RadargramArrays([self.names[i] for i in idx], self.static[idx], self.dynamic[idx], self.targets[idx],
                               self.weights[idx], self.feature_names, self.n_static,
                               None if self.sources is None else [self.sources[i] for i in idx],
                               None if self.mwe_per_px is None else self.mwe_per_px[idx], self.mwe_source)


def radargram_arrays(radargrams: Sequence[Radargram], cfg: SnowConfig, *, require_targets: bool = True
                     ) -> RadargramArrays:
    """Stack the features, targets and edge weights of usable radargrams (a missing extra field is a UserError)."""
    if not radargrams:
        raise UserError("no usable radargrams to build graphs from")
    feat_idx, targ_idx = layer_indices(cfg)
    static_extra: list[str] = []
    layer_extra: list[str] = []
    for name in cfg.extra_features:
        try:
            kind = _field_kind(radargrams[0], name)
        except KeyError:
            raise UserError(f"{radargrams[0].path}: no field {name!r} for --extra-features") from None
        (static_extra if kind == "static" else layer_extra).append(name)
    statics, dynamics, targets = [], [], []
    for r in radargrams:
        thick = r.thickness()
        cols = [r.latitude, r.longitude]
        try:
            for name in static_extra:
                cols.append(r.elevation if name.lower() == "elevation" else r.fields[name])
            dyn = [thick[feat_idx]]
            for name in layer_extra:
                field = r.fields[name]
                if field.ndim != 2 or field.shape[0] <= max(feat_idx):
                    raise UserError(f"{r.path}: field {name!r} has no row for every feature layer")
                dyn.append(field[feat_idx])
        except KeyError as exc:
            raise UserError(f"{r.path}: no field {exc.args[0]!r} for --extra-features") from None
        static = np.stack(cols, -1)
        dynamic = np.stack(dyn, -1)
        if not (np.isfinite(static).all() and np.isfinite(dynamic).all()):
            raise UserError(f"{r.path}: NaN in the feature layers or extra fields")
        statics.append(static)
        dynamics.append(dynamic)
        tgt = thick[targ_idx].T if require_targets or thick.shape[0] > max(targ_idx) else None
        targets.append(tgt if tgt is not None else np.full((r.columns, len(targ_idx)), np.nan))
    widths = {s.shape[0] for s in statics}
    if len(widths) != 1:
        raise UserError(f"radargrams have different widths {sorted(widths)}; graphs need one node count")
    static = np.stack(statics).astype(np.float64)
    lat, lon = static[..., 0], static[..., 1]
    names = ["latitude", "longitude", *static_extra, "thickness", *layer_extra]
    return RadargramArrays([r.name for r in radargrams], static, np.stack(dynamics).astype(np.float64),
                           np.stack(targets).astype(np.float64), inverse_distance(lat, lon), names,
                           2 + len(static_extra), [str(r.path) for r in radargrams])


@dataclass
class GraphStats(ConfigDict):
    """Training-set normalisation: per-channel z-score of node features, min-max of edge weights."""

    feature_names: list[str]
    n_static: int
    feature_mean: list[float]
    feature_std: list[float]
    weight_min: float
    weight_max: float
    target_mean: list[float]
    target_std: list[float]


def fit_graph_stats(train: RadargramArrays) -> GraphStats:
    """Statistics of the training radargrams only (seed 000 §IV-D: 'collectively normalized')."""
    static = train.static.reshape(-1, train.static.shape[-1])
    dynamic = train.dynamic.reshape(-1, train.dynamic.shape[-1])
    mean = np.concatenate([static.mean(0), dynamic.mean(0)])
    std = np.concatenate([static.std(0), dynamic.std(0)])
    std = np.where(std > 1e-12, std, 1.0)
    n = train.weights.shape[-1]
    off = ~np.eye(n, dtype=bool)
    w = train.weights[:, off]
    tgt = train.targets.reshape(-1, train.targets.shape[-1])
    return GraphStats(train.feature_names, train.n_static, mean.tolist(), std.tolist(), float(w.min()), float(w.max()),
                      tgt.mean(0).tolist(), np.maximum(tgt.std(0), 1e-6).tolist())


def normalised_tensors(arrays: RadargramArrays, stats: GraphStats) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features [R, T, N, F] z-scored, adjacency [R, N, N] min-max, targets [R, N, P] pixels) as float32."""
    if arrays.feature_names != stats.feature_names:
        raise UserError(f"features {arrays.feature_names} do not match the model's {stats.feature_names}")
    r, t, n, _ = arrays.dynamic.shape
    static = np.broadcast_to(arrays.static[:, None], (r, t, n, arrays.static.shape[-1]))
    feats = np.concatenate([static, arrays.dynamic], -1)
    feats = (feats - np.asarray(stats.feature_mean)) / np.asarray(stats.feature_std)
    span = max(stats.weight_max - stats.weight_min, 1e-30)
    adj = np.clip((arrays.weights - stats.weight_min) / span, 0.0, None)
    adj[:, np.arange(n), np.arange(n)] = 0.0
    return (torch.from_numpy(feats.astype(np.float32)), torch.from_numpy(adj.astype(np.float32)),
            torch.from_numpy(arrays.targets.astype(np.float32)))


class SnowGraphs(Dataset):
    """In-memory temporal graphs: item i is ``((features [T, N, F], adjacency [N, N]), targets [N, P])``."""

    def __init__(self, features: torch.Tensor, adjacency: torch.Tensor, targets: torch.Tensor, names: list[str]):
        self.features, self.adjacency, self.targets, self.names = features, adjacency, targets, names

    @classmethod
    def build(cls, arrays: RadargramArrays, stats: GraphStats) -> SnowGraphs:
        return cls(*normalised_tensors(arrays, stats), list(arrays.names))

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, i: int):
        return (self.features[i], self.adjacency[i]), self.targets[i]


def thickness_units(radargram: Radargram, cfg: SnowConfig, firn: FirnModel, thickness_px: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(metres [P, N], m w.e. [P, N], depth source, density source) of the target layers, oldest year first.

    `thickness_px` [P, N]: predicted thicknesses replacing the tracked ones of the target layers (None: the
    tracked layers). The layer rows are rebuilt from the surface down with them and converted by
    `nivalis.snow.units.rebuilt_layer_units`, as `snow inspect` converts tracked rows: the file's ``curr_dens``
    or the firn model for density; its travel time (read on the echogram ``Time`` axis, here at the rebuilt
    rows) or ``firn.pixel_m`` for depth.
    """
    targets = layer_indices(cfg)[1]
    units = rebuilt_layer_units(radargram.layers, targets, firn, thickness_px=thickness_px, twtt=radargram.twtt,
                                layer_density=radargram.fields.get("curr_dens"))
    return units.thickness_m[targets], units.thickness_mwe[targets], units.depth_source, units.density_source


def load_usable(data_dir: str | Path, cfg: SnowConfig) -> tuple[list[Radargram], FolderSummary]:
    """Usable radargrams of a folder (a UserError when there is none), plus the summary of what was skipped."""
    radargrams, summary = load_radargram_folder(data_dir, rows_needed=cfg.rows_needed, columns=cfg.columns)
    if not radargrams:
        raise UserError(f"no usable radargram in {data_dir} ({summary.files} files, {len(summary.bad)} unreadable, "
                        f"{len(summary.unusable)} with fewer than {cfg.rows_needed} tracked rows)")
    return radargrams, summary


def load_dataset(data_dir: str | Path, cfg: SnowConfig, firn: FirnModel | None = None
                 ) -> tuple[RadargramArrays, FolderSummary]:
    """Usable radargrams of a folder as arrays, plus the summary of what was read and skipped.

    With `firn`, the arrays carry ``mwe_per_px``: each tracked target layer's water equivalent (m w.e., by
    `thickness_units`: the file's travel time or ``firn.pixel_m``, its ``curr_dens`` or
    the firn density profile) divided by its thickness in pixels, so an error in pixels becomes one in m w.e.
    """
    radargrams, summary = load_usable(data_dir, cfg)
    arrays = radargram_arrays(radargrams, cfg)
    if firn is not None:
        per_px, sources = [], {}
        for r, target in zip(radargrams, arrays.targets):
            _, mwe, depth_from, density_from = thickness_units(r, cfg, firn)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_px.append(np.where(target > 0, mwe.T / target, np.nan))  # [N, P], oldest year first
            depth_from = f"pixel size {firn.pixel_m:g} m" if depth_from == "pixel size" else depth_from
            sources[f"depth from {depth_from}, density {density_from}"] = None
        arrays.mwe_per_px, arrays.mwe_source = np.stack(per_px), "; ".join(sources)
    return arrays, summary


__all__ = ["GraphStats", "RadargramArrays", "SnowGraphs", "fit_graph_stats", "haversine_m", "inverse_distance",
           "layer_indices", "load_dataset", "load_usable", "normalised_tensors", "radargram_arrays", "thickness_units"]
