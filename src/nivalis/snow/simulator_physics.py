"""The Snow Radar simulator's generative model: flight lines, accumulation, firn densification, layer tracking.

Everything is generated from physics-shaped fields, not noise around a formula the models are meant to find;
the defaults of `SimulatorConfig` are calibrated on published statistics of real labelled layers alone (see
*Calibration* below), never on a model ranking. `nivalis.snow.simulate` writes what this model makes.

**Flight lines.** A flight starts at a random point of the box ``latitude_range × longitude_range`` and
flies a smoothly turning great-circle path; traces are ``trace_spacing_m`` = 14.5 m apart (seed 000,
Table I) and every 256 consecutive traces form one radargram (frame ``YYYYMMDD_FF_NNN.mat``).
Positions are mapped to a local plane :math:`\\mathbf{x} = (R \\cos\\phi_0\\,\\Delta\\lambda, R\\,\\Delta\\phi)`.

**Accumulation** (m water equivalent per year) at trace :math:`\\mathbf{x}` in year :math:`t`:

.. math::
    b(\\mathbf{x}, t) = \\bar b(\\mathbf{x})\\,\\bigl(1 + \\sigma_a\\, a(\\mathbf{x}, t)\\bigr)
        \\bigl(1 - \\sigma_w\\, \\ell_u \\partial_{\\mathbf{w}} s(\\mathbf{x} - \\mathbf{u} a_t)\\,(1 + \\sigma_{wy} \\varepsilon_t)\\bigr)
        \\bigl(1 - \\sigma_r\\, \\ell_r \\partial_{\\mathbf{w}} r(\\mathbf{x} - \\mathbf{u} a_t)\\,(1 + \\sigma_{wy} \\varepsilon_t)\\bigr)
        \\bigl(1 + \\sigma_d\\, n(\\mathbf{x}, t)\\bigr)

- climatology :math:`\\bar b = b_0\\, e^{\\gamma_\\phi (\\phi - 72^\\circ)} (1 + \\gamma_\\lambda (\\lambda + 44^\\circ))
  (1 + \\sigma_c f(\\mathbf{x}))`, with :math:`f` a smooth Gaussian random field (length ``climate_length_km``);
- :math:`a(\\mathbf{x}, t)`: year-to-year anomaly, a unit Gaussian random field of length ``anomaly_length_km``
  whose random-Fourier coefficients follow an AR(1) process in time (``anomaly_ar1``): correlated in space
  and from one year to the next;
- wind redistribution: :math:`s` is the surface undulation field (length ``undulation_length_m``, fixed
  to the bed, so persistent in time); snow is scoured from slopes facing the prevailing (katabatic) wind
  :math:`\\mathbf{w}` and deposited in the lee, :math:`\\ell_u \\partial_\\mathbf{w} s` being the unit-variance
  slope along the wind; the wind strength varies from year to year by :math:`\\varepsilon_t \\sim N(0, 1)`.
  The ice flows (velocity :math:`\\mathbf{u}(\\mathbf{x})`, ``flow_speed_m_per_year`` down-slope) through the fixed
  undulations, so the layer of age :math:`a_t` at :math:`\\mathbf{x}` received the redistribution of
  :math:`\\mathbf{x} - \\mathbf{u} a_t`: the undulation imprint shifts along track from layer to layer;
- the same scour-and-drift on the km-scale surface relief :math:`r` that bed topography imprints on the ice
  surface (length ``relief_length_km`` = 1 km, weight ``relief_rel_std``): persistent through the layer
  sequence (the ice moves 25 ± 10 m a year, ``flow_speed_m_per_year``, a few hundred metres over the
  tracked layers);
- :math:`n(\\mathbf{x}, t)`: year-specific drifting (sastrugi) noise, correlated along track over
  ``drift_length_m``.

The random fields are random-Fourier-feature Gaussian fields,
:math:`f(\\mathbf{x}) = \\sqrt{2/M} \\sum_m c_m \\cos(\\mathbf{k}_m \\cdot \\mathbf{x} + \\varphi_m)`,
:math:`\\mathbf{k}_m \\sim N(0, \\ell^{-2} I)`, whose covariance is :math:`e^{-|\\Delta\\mathbf{x}|^2 / 2\\ell^2}`.

**Firn densification** (Herron & Langway 1980, steady state) turns accumulation into layer thickness, so a
year's layer gets thinner in pixels as it is buried:

.. math::
    \\ln\\frac{\\rho}{\\rho_i - \\rho} = \\rho_i k_0 z + \\ln\\frac{\\rho_0}{\\rho_i - \\rho_0}
    \\;(\\rho \\le 0.55), \\qquad
    \\ln\\frac{\\rho}{\\rho_i - \\rho} = \\frac{\\rho_i k_1}{\\sqrt{\\bar b}} (z - z_{0.55}) + \\ln\\frac{0.55}{\\rho_i - 0.55},

:math:`k_0 = 11 e^{-10160/RT}`, :math:`k_1 = 575 e^{-21400/RT}`, :math:`\\rho_i = 0.917`, temperature
:math:`T(\\phi)`. A layer of accumulation :math:`b` at depth :math:`z` is :math:`h = b\\,\\rho_w / \\rho(z + h/2)`
metres thick, and :math:`h / \\Delta` pixels (``pixel_m`` :math:`= \\Delta`, calibration (1)). Layer boundaries
are stacked from the flat surface row downwards (the 2012 survey: first layer 2011, then 2010, ...); the top
layer holds the fraction ``top_layer_fraction`` of a year's accumulation (calibration (2)). The density
profile is `nivalis.snow.units.herron_langway_density`.

**Layer tracking.** Each radargram has an echo quality :math:`Q` (dB, AR(1) along the flight, at most
``quality_max_db``); boundary k at mean depth :math:`z_k` has :math:`\\mathrm{SNR}_k = Q - \\alpha z_k - \\beta k`
(attenuation per metre, transmission through each boundary above) and is tracked only while
:math:`\\mathrm{SNR}_k > 0` and it lies inside the image (1200–1700 rows, ``image_rows``), so radargrams with
poor echoes have too few layers. Tracked layers have gaps
(NaN runs) at a rate :math:`g_0 e^{-\\mathrm{SNR}_k / g_s}`. Picking errors grow as the echoes fade,
:math:`\\sigma(z) = \\sigma_0 e^{z / z_\\sigma}` pixels (bright shallow layers are picked to within a
pixel, faint deep ones to a few), half of the variance white and half correlated along track over a few
traces; occasional runs follow a neighbouring wiggle (±1 px, more often deeper); picks are rounded to
whole pixel rows as in hand-labelled images and made monotone down the stack in every trace (a cumulative
maximum over the layers, `monotone_rows`: a tracker never puts a deeper layer above a shallower one).

**Calibration** on the published statistics of real labelled layers (issue 21: the authors' label images of
their 114 test radargrams): per annual layer a mean thickness of 44–67 px (top-down 2011→2007: 44.5, 67.0,
60.7, 50.4, 65.2), a within-radargram coefficient of variation (CV) of ≈ 3 %, a between-radargram CV of
15–39 % per year, 16–28 tracked layers (11–23 below the five targets), images of 1200–1700 rows. Which
parameter carries which statistic (measured values: ``benchmarks/RESULTS.md``; `campaign_statistics`):

1. *layer thickness in pixels* → ``pixel_m``. Accumulation stays physical (``accumulation_72n`` ≈ 0.3 m w.e.
   per year over the flights' box), i.e. annual layers of ≈ 0.6–0.8 m of firn at 0.4–0.5 Mg m⁻³. Seed 000
   says a pixel is ≈ 4 cm, which is the radar's range resolution (Table I); at 4 cm the real 44–67 px would
   be 1.8–2.7 m of firn a year (≈ 1 m w.e., far above the region's accumulation) and 1200–1700-row images
   would span 48–68 m, ≈ 90 annual layers, not 16–28. Both published figures agree instead on a row of
   ≈ 1.3–1.4 cm (0.75 m / 57 px; 16–28 layers of 0.6–0.75 m in 1200–1700 rows): the processed images sample
   the echo finer than the range resolution. ``pixel_m`` is set so the five target layers average the real
   mean (57.6 px). Data read back in metres need ``--pixel-m`` equal to it.
2. *thin top layer* (44.5 px against 50–67 below) → ``top_layer_fraction``: a spring survey finds only the
   snow fallen since the last summer horizon above the first annual boundary; the fraction is the real ratio
   of the 2011 layer to the mean of 2007–2010, corrected for the top layer's lower density.
3. *between-radargram CV 15–39 %* → the regional terms: latitude/longitude gradients, ``climate_rel_std``
   (spatial climatology) and ``anomaly_rel_std`` (year-to-year anomaly, which makes the CV differ by year).
4. *within-radargram CV ≈ 3 %* and smooth isochrones → the along-track terms ``wind_rel_std``,
   ``relief_rel_std``, ``drift_rel_std`` (each 1–3 %) and the picking error (``pick_sigma_px`` ≈ ½ px,
   mostly correlated along track, as drawn label lines are); persistent through the layers, the wind and
   relief terms also bound how far a deep isochrone wanders inside a 3.7 km radargram.
5. *16–28 tracked layers* → ``quality_mean_db``, ``quality_std_db``, ``quality_max_db``,
   ``snr_loss_db_per_m`` and ``snr_loss_db_per_layer``: the per-boundary loss makes the count depend on
   layers more than on metres (thick- and thin-layered regions both stop within 16–28), the cap on
   :math:`Q` is the deepest the real labels go, and the mean sets the share of radargrams with at least 16
   layer rows (seed 000 §III: 568 of 816).
6. *image height* → ``image_rows`` (seed 000 §III).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from nivalis.config import ConfigDict
from nivalis.snow.units import herron_langway_density

EARTH_RADIUS_M = 6_371_000.0


@dataclass
class SimulatorConfig(ConfigDict):
    """Physical and survey parameters of the simulated Snow Radar campaign."""

    radargrams: int = 816                       # seed 000 §III: 816 radargrams before filtering
    seed: int = 0
    traces: int = 256                           # seed 000 §III: 256 columns per image
    trace_spacing_m: float = 14.5               # seed 000 Table I: along-track footprint
    pixel_m: float = 0.0136                     # metres of firn per image row: calibration (1), docstring
    survey_year: int = 2012                     # seed 000 §I: flights of 2012
    radargrams_per_flight: tuple[int, int] = (60, 140)
    latitude_range: tuple[float, float] = (68.5, 75.5)
    longitude_range: tuple[float, float] = (-48.0, -38.0)
    years: int = 50                             # annual layers simulated below the surface (echograms need depth)
    surface_row: int = 60                       # flat surface row of every image
    image_rows: tuple[int, int] = (1200, 1700)  # seed 000 §III: image height
    top_layer_fraction: float = 0.665            # spring survey: the top layer holds the snow since last summer (2)
    # accumulation (m w.e. per year); regional and year-to-year terms: calibration (3)
    accumulation_72n: float = 0.30
    latitude_gradient: float = -0.07            # per degree north (exponential)
    longitude_gradient: float = 0.015           # per degree east (relative)
    climate_rel_std: float = 0.2
    climate_length_km: float = 150.0
    anomaly_rel_std: float = 0.25
    anomaly_length_km: float = 200.0
    anomaly_ar1: float = 0.6
    # along-track (local) terms: calibration (4)
    wind_rel_std: float = 0.012
    wind_year_std: float = 0.25
    wind_direction_deg: float = 250.0           # katabatic flow towards the west-south-west
    undulation_length_m: float = 450.0
    undulation_amplitude_m: float = 5.0
    flow_speed_m_per_year: float = 25.0         # ice flow carries buried layers across the fixed undulations
    flow_speed_std: float = 10.0
    flow_direction_deg: float = 250.0           # down-slope, towards the west-south-west coast
    drift_rel_std: float = 0.01
    relief_rel_std: float = 0.03                # km-scale, bed-induced surface relief: scour on windward slopes,
    relief_length_km: float = 1.0               # drift on lee slopes (persistent)
    relief_amplitude_m: float = 6.0
    drift_length_m: float = 45.0
    # firn
    surface_density: float = 0.36               # Mg m^-3
    temperature_72n_k: float = 249.0
    temperature_lapse_k_per_deg: float = -0.8
    # tracking and picking: calibration (5), (4)
    quality_mean_db: float = 19.5
    quality_std_db: float = 4.0
    quality_max_db: float = 22.5                # the radar's dynamic range: the deepest layers stay untracked
    quality_ar1: float = 0.8
    snr_loss_db_per_m: float = 0.5
    snr_loss_db_per_layer: float = 0.6          # transmission through each annual boundary above
    gap_rate: float = 0.6
    gap_snr_scale_db: float = 2.5
    pick_sigma_px: float = 0.5                  # picking error at the surface, growing as echoes fade:
    pick_noise_depth_m: float = 25.0            # sigma(z) = pick_sigma_px * exp(z / pick_noise_depth_m)
    pick_correlated: float = 0.8                # share of the error variance correlated along track
    pick_correlation_traces: float = 6.0
    wiggle_rate: float = 0.05                   # runs on a neighbouring wiggle (±1 px), per layer and 5 m of depth
    # echograms
    echograms: bool = False
    attenuation_db_per_m: float = 0.9
    fmt: str = "v7.3"
    layout: str = "layers_vector"               # or "seed": image/NAME.mat + layer_bin/NAME.png (with echograms)


class RandomField:
    """Gaussian random field on the local plane (km) by random Fourier features; optionally AR(1) in time."""

    def __init__(self, rng: np.random.Generator, length_km: float, modes: int = 192):
        self.k = rng.normal(0.0, 1.0 / length_km, size=(modes, 2))
        self.phase = rng.uniform(0.0, 2 * math.pi, size=modes)
        self.coef = rng.normal(size=modes)
        self.scale = math.sqrt(2.0 / modes)
        self.length_km = length_km

    def basis(self, xy: np.ndarray) -> np.ndarray:
        return self.scale * np.cos(xy @ self.k.T + self.phase)

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        return self.basis(xy) @ self.coef

    def directional_slope(self, xy: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Unit-variance derivative along `direction` (ℓ ∂f/∂w: the field's slope in lengths)."""
        grad = -self.scale * np.sin(xy @ self.k.T + self.phase) * (self.k @ direction)
        return (grad @ self.coef) * self.length_km

    def advected_slopes(self, xy: np.ndarray, direction: np.ndarray, velocity: np.ndarray, ages: np.ndarray
                        ) -> np.ndarray:
        """[len(ages), n] unit-variance slopes along `direction` where the ice at `xy` was `ages` years ago.

        The field is fixed in space (tied to the bed) while the ice moves with `velocity` (km per year, [n, 2]):
        :math:`f(\\mathbf{x} - \\mathbf{u} a)`. Each Fourier mode's phase advances by :math:`\\mathbf{k} \\cdot
        \\mathbf{u}` per year, applied as a complex rotation year after year instead of a new sine per age.
        """
        phase = np.exp(1j * (xy @ self.k.T + self.phase)).astype(np.complex64)              # [n, M]
        step = np.exp(-1j * (velocity @ self.k.T)).astype(np.complex64)                     # one year upstream
        weights = (-self.scale * self.length_km * self.coef * (self.k @ direction)).astype(np.float32)
        out = np.empty((len(ages), xy.shape[0]))
        current = phase * np.exp(-1j * (velocity @ self.k.T) * ages[0]).astype(np.complex64)
        for i, age in enumerate(ages):
            if i:
                gap = age - ages[i - 1]
                current *= step if gap == 1 else np.exp(-1j * (velocity @ self.k.T) * gap).astype(np.complex64)
            out[i] = current.imag @ weights
        return out

    def ar1_coefficients(self, rng: np.random.Generator, steps: int, phi: float) -> np.ndarray:
        """[steps, modes] coefficients following c_t = φ c_{t-1} + √(1-φ²) η_t (unit variance)."""
        out = np.empty((steps, self.k.shape[0]))
        c = rng.normal(size=self.k.shape[0])
        for t in range(steps):
            c = phi * c + math.sqrt(1 - phi * phi) * rng.normal(size=c.shape)
            out[t] = c
        return out


@dataclass
class _Fields:
    climate: RandomField
    anomaly: RandomField
    anomaly_coef: np.ndarray          # [years, modes], index 0 = most recent year
    undulation: RandomField
    elevation: RandomField
    flow: RandomField
    wind_year: np.ndarray             # [years]
    wind_dir: np.ndarray
    flow_dir: np.ndarray
    relief: RandomField


def local_xy(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    r_km = EARTH_RADIUS_M / 1000.0
    x = r_km * math.cos(math.radians(72.0)) * np.radians(lon + 44.0)
    y = r_km * np.radians(lat - 72.0)
    return np.stack([x, y], -1)


def flight_track(rng: np.random.Generator, n_traces: int, cfg: SimulatorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude (degrees) of a smoothly turning flight line, one point every trace_spacing_m."""
    lat0 = math.radians(rng.uniform(*cfg.latitude_range))
    lon0 = math.radians(rng.uniform(*cfg.longitude_range))
    s = np.arange(n_traces) * cfg.trace_spacing_m
    heading = np.full(n_traces, rng.uniform(0, 2 * math.pi))
    for wavelength_km, amp in ((150.0, 0.5), (40.0, 0.15), (12.0, 0.04)):
        weight = rng.uniform(0.3, 1.0) * amp
        heading += weight * np.sin(2 * math.pi * s / (wavelength_km * 1000.0) + rng.uniform(0, 6.3))
    lat = np.empty(n_traces)
    lon = np.empty(n_traces)
    lat[0], lon[0] = lat0, lon0
    d = cfg.trace_spacing_m / EARTH_RADIUS_M
    lat[1:] = lat0 + np.cumsum(d * np.cos(heading[:-1]))
    lon[1:] = lon0 + np.cumsum(d * np.sin(heading[:-1]) / np.cos(lat[:-1]))
    return np.degrees(lat), np.degrees(lon)


def make_fields(rng: np.random.Generator, cfg: SimulatorConfig) -> _Fields:
    wind = math.radians(cfg.wind_direction_deg)
    return _Fields(
        climate=RandomField(rng, cfg.climate_length_km),
        anomaly=(anomaly := RandomField(rng, cfg.anomaly_length_km)),
        anomaly_coef=anomaly.ar1_coefficients(rng, cfg.years + 20, cfg.anomaly_ar1)[20:][::-1],
        undulation=RandomField(rng, cfg.undulation_length_m / 1000.0, modes=256),
        elevation=RandomField(rng, 80.0),
        flow=RandomField(rng, 150.0),
        wind_year=rng.normal(size=cfg.years),
        wind_dir=np.array([math.sin(wind), math.cos(wind)]),
        flow_dir=np.array([math.sin(math.radians(cfg.flow_direction_deg)),
                           math.cos(math.radians(cfg.flow_direction_deg))]),
        relief=RandomField(rng, cfg.relief_length_km),
    )


def flight_physics(rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray, fields: _Fields,
                    cfg: SimulatorConfig) -> dict[str, np.ndarray]:
    """True accumulation, densities and layer-boundary rows (float pixels) along one flight line."""
    xy = local_xy(lat, lon)
    n = lat.size
    clim = (cfg.accumulation_72n * np.exp(cfg.latitude_gradient * (lat - 72.0))
            * (1 + cfg.longitude_gradient * (lon + 44.0)) * (1 + cfg.climate_rel_std * fields.climate(xy)))
    anomaly = fields.anomaly.basis(xy) @ fields.anomaly_coef.T          # [n, years]
    anomaly = anomaly.T                                                  # [years, n], row 0 = 2011
    speed = np.maximum(cfg.flow_speed_m_per_year + cfg.flow_speed_std * fields.flow(xy), 2.0) / 1000.0  # km/a
    velocity = speed[:, None] * fields.flow_dir[None, :]
    ages = np.arange(cfg.years) + 0.75       # spring survey: the top layer fell during the past year
    # the snow of year t fell where the ice was age_t years ago: slopes of the fixed undulations upstream
    slope = fields.undulation.advected_slopes(xy, fields.wind_dir, velocity, ages)          # [years, n]
    wind = 1 - cfg.wind_rel_std * slope * (1 + cfg.wind_year_std * fields.wind_year[:, None])
    if cfg.relief_rel_std:
        relief = fields.relief.advected_slopes(xy, fields.wind_dir, velocity, ages)
        wind = wind * (1 - cfg.relief_rel_std * relief * (1 + cfg.wind_year_std * fields.wind_year[:, None]))
    drift_sigma = cfg.drift_length_m / cfg.trace_spacing_m
    drift = gaussian_filter1d(rng.normal(size=(cfg.years, n)), drift_sigma, axis=1, mode="nearest")
    drift /= drift.std(axis=1, keepdims=True) + 1e-12
    regional = clim[None, :] * (1 + cfg.anomaly_rel_std * anomaly)
    accumulation = np.maximum(regional * wind * (1 + cfg.drift_rel_std * drift), 0.03)
    accumulation[0] *= cfg.top_layer_fraction
    temperature = cfg.temperature_72n_k + cfg.temperature_lapse_k_per_deg * (lat - 72.0)
    depth = np.zeros((cfg.years + 1, n))
    density = np.empty((cfg.years, n))
    for t in range(cfg.years):  # youngest layer first, each one buried under the ones above
        top = depth[t]
        h = accumulation[t] / herron_langway_density(top, temperature, clim, cfg.surface_density)
        rho = herron_langway_density(top + h / 2, temperature, clim, cfg.surface_density)
        density[t] = rho
        depth[t + 1] = top + accumulation[t] / rho
    rows = cfg.surface_row + depth / cfg.pixel_m
    undulation = fields.undulation(xy)
    elevation = (2300.0 + 110.0 * (lat - 72.0) - 70.0 * (lon + 44.0) + 60.0 * fields.elevation(xy)
                 + cfg.undulation_amplitude_m * undulation + cfg.relief_amplitude_m * fields.relief(xy))
    smb = regional * (1 + 0.03 * rng.normal(size=regional.shape))
    return {"rows": rows, "depth": depth, "accumulation": accumulation, "density": density, "smb": smb,
            "temperature": temperature, "elevation": elevation}


def monotone_rows(rows: np.ndarray) -> np.ndarray:
    """Layer rows [L, W] made monotone down the stack in every trace: a cumulative maximum over the layer axis.

    A tracker never puts a deeper layer above a shallower one. A pairwise maximum of adjacent rows is not
    enough: when layer k + 1 is picked above layer k - 1, it is lifted to layer k's original row only, and
    k + 1 still crosses k once k was lifted itself.
    """
    return np.maximum.accumulate(rows, axis=0)


def track_layers(rng: np.random.Generator, rows: np.ndarray, depth: np.ndarray, quality_db: float,
                  cfg: SimulatorConfig, height: int | None = None) -> np.ndarray:
    """Hand-tracked layer rows of one radargram: boundaries while SNR > 0 (and inside an image of `height`
    rows), with gaps and picking errors."""
    width = rows.shape[1]
    snr = quality_db - cfg.snr_loss_db_per_m * depth.mean(axis=1) - cfg.snr_loss_db_per_layer * np.arange(len(depth))
    lost = snr[1:] <= 0
    if height is not None:
        lost |= rows[1:].max(axis=1) >= height - 3
    lost = np.nonzero(lost)[0]
    n_rows = int(lost[0]) + 1 if lost.size else rows.shape[0]
    picked = rows[:n_rows].copy()
    for k in range(1, n_rows):
        depth_k = float(depth[k].mean())
        sigma = cfg.pick_sigma_px * math.exp(depth_k / cfg.pick_noise_depth_m)
        smooth = gaussian_filter1d(rng.normal(size=width), cfg.pick_correlation_traces, mode="wrap")
        smooth *= math.sqrt(cfg.pick_correlated) * sigma / (smooth.std() + 1e-12)
        picked[k] += smooth + rng.normal(0.0, math.sqrt(1 - cfg.pick_correlated) * sigma, width)
        for _ in range(rng.poisson(cfg.wiggle_rate * (1 + depth_k / 5.0))):
            length = int(rng.integers(8, 64))
            start = int(rng.integers(0, width - length))
            picked[k, start:start + length] += rng.choice([-1, 1])
    picked = monotone_rows(np.round(picked))
    for k in range(1, n_rows):
        for _ in range(rng.poisson(cfg.gap_rate * math.exp(-max(snr[k], 0.0) / cfg.gap_snr_scale_db))):
            length = int(rng.integers(3, 40))
            start = int(rng.integers(0, width - length))
            picked[k, start:start + length] = np.nan
    return picked


__all__ = ["EARTH_RADIUS_M", "RandomField", "SimulatorConfig", "flight_physics", "flight_track", "make_fields",
           "monotone_rows", "track_layers"]
