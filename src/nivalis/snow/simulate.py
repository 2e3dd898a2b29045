"""Snow Radar layer simulator: flight lines over Greenland's accumulation zone written as processed `.mat` files.

The simulator is the embedded default data set of the snow pipeline. It writes the real processed format
(`nivalis.snow.readers.layers_vector`), or with ``layout="seed"`` the seed's own release (``image/NAME.mat`` with
the echogram and a 256×2 latitude/longitude matrix, ``layer_bin/NAME.png`` with a white 1-px line at the top of
each tracked layer; `nivalis.snow.readers.seed_release`), so a reader is the only way in. What it writes comes
from the generative model of `nivalis.snow.simulator_physics` (flight lines, accumulation, firn densification,
layer tracking; its formulas and the calibration of `SimulatorConfig` on real labelled layers are there).

**Echograms** (optional; always in the seed layout): 1200–1700 rows × 256, the surface and every layer boundary a
bright reflector whose power fades with depth (two-way attenuation ``attenuation_db_per_m``), with a weaker
volume-scatter background, thermal noise floor and multiplicative speckle (4-look gamma), log-compressed to uint8.

Also written: ``Elevation`` (ice-sheet surface + the undulations :math:`s` and the relief :math:`r`), and physical
fields ``curr_temp`` (°C), ``curr_dens`` (kg m⁻³, the densification model at each layer's depth) and ``curr_smb``
(m w.e., a regional-climate-model-like SMB: climatology and anomaly without the small-scale terms).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from nivalis.errors import UserError
from nivalis.snow.readers.layers_vector import write_radargram
from nivalis.snow.readers.radargram import layers_usability
from nivalis.snow.readers.seed_release import write_seed_pair
from nivalis.snow.simulator_physics import SimulatorConfig, flight_physics, flight_track, make_fields, track_layers


def _echogram(rng: np.random.Generator, rows: np.ndarray, depth: np.ndarray, height: int, cfg: SimulatorConfig
              ) -> np.ndarray:
    """uint8 echogram [height, W]: bright reflectors at every boundary fading with depth, speckle, noise floor."""
    width = rows.shape[1]
    r = np.arange(height, dtype=np.float64)[:, None]
    below = np.clip(r - cfg.surface_row, 0, None) * cfg.pixel_m                     # depth (m) of each row
    volume = 10 ** ((-cfg.attenuation_db_per_m * 2 * below - 28.0) / 10) * (r >= cfg.surface_row)  # volume scatter
    power = np.repeat(volume, width, axis=1)
    cols = np.arange(width)
    for k in range(rows.shape[0]):
        centre = rows[k]
        if centre.min() >= height - 3:
            break
        strength_db = (12.0 if k == 0 else 0.0) - cfg.attenuation_db_per_m * 2 * depth[k] + rng.normal(0, 1.5, width)
        strength_db = gaussian_filter1d(strength_db, 3.0)
        amp = 10 ** (strength_db / 10)
        base = np.floor(centre).astype(int)
        for off in range(-2, 4):
            rr = base + off
            ok = (rr >= 0) & (rr < height)
            w = np.exp(-0.5 * ((rr - centre) / 0.9) ** 2)
            power[rr[ok], cols[ok]] += amp[ok] * w[ok]
    noise_floor = 10 ** (-52.0 / 10)
    speckle = rng.gamma(4.0, 0.25, size=power.shape)
    db = 10 * np.log10((power + noise_floor) * speckle)
    return np.clip((db + 58.0) / 58.0 * 255.0, 0, 255).astype(np.uint8)


def _frame_name(flight: int, frame: int, cfg: SimulatorConfig, day: int) -> str:
    month, dom = (3, 15 + day) if day < 17 else (4, day - 16)
    return f"{cfg.survey_year}{month:02d}{dom:02d}_{flight + 1:02d}_{frame + 1:03d}.mat"


def campaign_statistics(radargrams: list, targets: int = 5) -> dict[str, Any]:
    """The published statistics of real labelled layers, measured on `radargrams` (usable ones, as the seed's test
    set): per target layer (top-down) the mean thickness (px), the within-radargram CV (std / mean along the
    traces, averaged over radargrams), the between-radargram CV (of the radargrams' mean thicknesses), and the
    number of tracked layer rows (surface included) per radargram."""
    thick = np.stack([r.thickness()[:targets] for r in radargrams])             # [R, targets, W]
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(thick, axis=2)                                         # [R, targets]
        within = np.nanstd(thick, axis=2) / mean
    rows = np.array([r.n_layers for r in radargrams])
    return {"radargrams": len(radargrams), "thickness_px": np.nanmean(mean, axis=0).round(2).tolist(),
            "within_cv": np.nanmean(within, axis=0).round(4).tolist(),
            "between_cv": (np.nanstd(mean, axis=0) / np.nanmean(mean, axis=0)).round(4).tolist(),
            "tracked_layers": [int(rows.min()), int(np.median(rows)), int(rows.max())]}


def simulate_campaign(out_dir: str | Path, config: SimulatorConfig | None = None, *, desc: str = "simulate"
                      ) -> dict[str, Any]:
    """Write `config.radargrams` radargram files into `out_dir`; return what was written and how many are usable."""
    from nivalis.progress import bar

    cfg = config or SimulatorConfig()
    if cfg.radargrams < 1:
        raise UserError(f"--radargrams must be at least 1, got {cfg.radargrams}")
    if cfg.fmt not in ("v7.3", "v5"):
        raise UserError(f"unknown MAT format {cfg.fmt!r} (v7.3, v5)")
    if cfg.layout not in ("layers_vector", "seed"):
        raise UserError(f"unknown layout {cfg.layout!r} (layers_vector, seed)")
    seed_layout = cfg.layout == "seed"
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    fields = make_fields(rng, cfg)
    files: list[str] = []
    usable = 0
    progress = bar(cfg.radargrams, desc=desc)
    flight = 0
    lo, hi = cfg.radargrams_per_flight
    while len(files) < cfg.radargrams:
        n_frames = min(int(rng.integers(lo, hi + 1)), cfg.radargrams - len(files))
        lat, lon = flight_track(rng, n_frames * cfg.traces, cfg)
        phys = flight_physics(rng, lat, lon, fields, cfg)
        quality = np.empty(n_frames)
        u = rng.normal()
        for i in range(n_frames):
            u = cfg.quality_ar1 * u + math.sqrt(1 - cfg.quality_ar1 ** 2) * rng.normal()
            quality[i] = min(cfg.quality_mean_db + cfg.quality_std_db * u, cfg.quality_max_db)
        day = int(rng.integers(0, 30))
        for i in range(n_frames):
            cols = slice(i * cfg.traces, (i + 1) * cfg.traces)
            height = int(rng.integers(cfg.image_rows[0], cfg.image_rows[1] + 1))
            layers = track_layers(rng, phys["rows"][:, cols], phys["depth"][:, cols], quality[i], cfg, height)
            name = _frame_name(flight, i, cfg, day)
            files.append(name)
            usable += layers_usability(layers, 16, cfg.traces)[0]
            progress.update(1)
            echogram = None
            if cfg.echograms or seed_layout:
                echogram = _echogram(rng, phys["rows"][:, cols], phys["depth"][:, cols], height, cfg)
            if seed_layout:  # the seed's release: echogram image + label image, no physical fields
                write_seed_pair(out, name[:-4], echogram, lat[cols], lon[cols], layers, fmt=cfg.fmt,
                                extra={"Elevation": phys["elevation"][cols].reshape(-1, 1)})
                continue
            n_rows = layers.shape[0]
            per_layer = np.full((n_rows, cfg.traces), np.nan)
            dens = per_layer.copy()
            dens[:n_rows - 1] = 1000.0 * phys["density"][:n_rows - 1, cols]
            smb = per_layer.copy()
            smb[:n_rows - 1] = phys["smb"][:n_rows - 1, cols]
            temp = np.broadcast_to(phys["temperature"][cols] - 273.15, (n_rows, cfg.traces)).copy()
            variables: dict[str, np.ndarray] = {
                "layers_vector": layers, "Latitude": lat[cols].reshape(-1, 1), "Longitude": lon[cols].reshape(-1, 1),
                "Elevation": phys["elevation"][cols].reshape(-1, 1),
                "curr_smb": smb.astype(np.float32), "curr_dens": dens.astype(np.float32),
                "curr_temp": temp.astype(np.float32),
            }
            if echogram is not None:
                variables["Data"] = echogram
            write_radargram(out / name, variables, fmt=cfg.fmt)
        flight += 1
    progress.close()
    return {"out": str(out), "files": len(files), "usable": usable, "flights": flight, "seed": cfg.seed,
            "format": cfg.fmt, "layout": cfg.layout, "echograms": cfg.echograms or seed_layout, "pixel_m": cfg.pixel_m,
            "seconds": round(time.perf_counter() - t0, 3)}


__all__ = ["SimulatorConfig", "campaign_statistics", "simulate_campaign"]
