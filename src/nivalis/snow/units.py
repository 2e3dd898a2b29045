"""Physical units of Snow Radar layers: depth from two-way travel time, thickness in metres and metres water equivalent.

Firn permittivity (Kovacs, Gow & Morey 1995), density :math:`\\rho` in g/cm³:

.. math::
    \\varepsilon'(\\rho) = (1 + 0.845\\,\\rho)^2

A radar wave travels in firn at :math:`c / \\sqrt{\\varepsilon'}`, so a two-way travel time :math:`t` below the
surface maps to depth by integrating

.. math::
    \\frac{dz}{dt} = \\frac{c}{2 \\sqrt{\\varepsilon'(\\rho(z))}}, \\qquad c = 299\\,792\\,458 \\text{ m/s}

(numerically on a depth grid of `DEPTH_STEP_M`; exact for a constant density: :math:`z = c\\,t / (2 (1 + 0.845\\rho))`).

Density profile :math:`\\rho(z)`, one of:

- a constant density (``FirnModel.density``);
- the file's ``curr_dens`` [L × W] (row i = layer i; kg/m³ when its values exceed 10, else g/cm³): within
  layer i the wave speed uses :math:`\\rho_i`, so :math:`\\Delta z_i = c\\,\\Delta t_i / (2 (1 + 0.845 \\rho_i))`;
- Herron & Langway (1980) steady state from surface density :math:`\\rho_0`, mean annual temperature
  :math:`T` (K) and accumulation :math:`A` (m w.e. a⁻¹), :math:`\\rho_i = 0.917`, :math:`R = 8.314`:

.. math::
    k_0 = 11 e^{-10160 / (R T)}, \\quad k_1 = 575 e^{-21400 / (R T)}, \\quad
    h_{0.55} = \\frac{1}{\\rho_i k_0}
        \\left[\\ln\\frac{0.55}{\\rho_i - 0.55} - \\ln\\frac{\\rho_0}{\\rho_i - \\rho_0}\\right]

.. math::
    \\rho(z) = \\rho_i \\frac{Z}{1 + Z}, \\quad Z = \\begin{cases}
        \\exp\\left(\\rho_i k_0 z + \\ln\\frac{\\rho_0}{\\rho_i - \\rho_0}\\right) & z \\le h_{0.55} \\\\
        \\exp\\left(\\rho_i k_1 (z - h_{0.55}) / \\sqrt{A} + \\ln\\frac{0.55}{\\rho_i - 0.55}\\right) & z > h_{0.55}
    \\end{cases}

Pixel size: from an echogram ``Time`` axis, a row is :math:`dt` of travel time, i.e.
:math:`dt\\,c / (2\\sqrt{\\varepsilon'})` metres (rows are converted to travel time, then to depth as above);
without one, a fixed ``pixel_m`` (seed 000 Table I: range resolution ~4 cm).

Layer thickness: in pixels :math:`r_{i+1} - r_i`, in metres :math:`z_{i+1} - z_i`, in metres water equivalent

.. math::
    h_{w.e.} = \\frac{1}{\\rho_w} \\int_{z_i}^{z_{i+1}} \\rho(z)\\,dz = h \\cdot \\bar\\rho_i / \\rho_w,
    \\qquad \\rho_w = 1000 \\text{ kg/m³}

(:math:`\\bar\\rho_i` in g/cm³ times the thickness in metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nivalis.config import ConfigDict
from nivalis.errors import UserError

C_LIGHT = 299_792_458.0     # m/s
RHO_ICE = 0.917             # g/cm³ (Mg/m³)
GAS_CONSTANT = 8.314        # J/(mol K)
DEPTH_STEP_M = 0.005        # grid of the travel time → depth integration
PIXEL_M_RANGE = (1e-4, 100.0)   # m per pixel row: from a tenth of a millimetre to the coarsest deep-ice radar row
MAX_ACCUMULATION = 10.0     # m w.e. per year: above the wettest glaciers


@dataclass
class FirnModel(ConfigDict):
    """How pixels and travel times become metres: pixel size and the firn density profile (not in seed 000)."""

    pixel_m: float = 0.04                 # seed 000 Table I: range resolution ~4 cm per pixel (no Time axis)
    density: float | None = None          # g/cm³: a constant density instead of Herron-Langway
    surface_density: float = 0.35         # g/cm³: Herron-Langway surface density (not in the seed)
    temperature_c: float = -20.0          # °C: mean annual temperature (not in the seed)
    accumulation: float = 0.3             # m w.e. per year (not in the seed)

    def validate(self) -> FirnModel:
        """Self, or a UserError for a value no firn can have (the hint names the unit it was likely given in)."""
        if not PIXEL_M_RANGE[0] <= self.pixel_m <= PIXEL_M_RANGE[1]:
            raise UserError(f"--pixel-m must be metres of firn per pixel row, {PIXEL_M_RANGE[0]:g} to "
                            f"{PIXEL_M_RANGE[1]:g}, got {self.pixel_m:g}")
        if self.density is not None and not 0.05 < self.density <= RHO_ICE:
            raise UserError(f"--density must be in g/cm³, above 0.05 and at most {RHO_ICE} (ice), got "
                            f"{self.density:g}{_per_thousand(self.density, 'kg/m³', RHO_ICE)}")
        if not 0.05 < self.surface_density < 0.55:
            raise UserError(f"--surface-density must be in g/cm³ between 0.05 and 0.55, got "
                            f"{self.surface_density:g}{_per_thousand(self.surface_density, 'kg/m³', 0.55)}")
        if not -80 < self.temperature_c < 0:
            kelvin = 193.15 < self.temperature_c < 273.15
            raise UserError(f"--temperature-c must be a mean annual temperature in °C, above -80 and below 0, got "
                            f"{self.temperature_c:g}" + (f" (kelvin? that is {self.temperature_c - 273.15:.4g} °C)"
                                                         if kelvin else ""))
        if not 0 < self.accumulation <= MAX_ACCUMULATION:
            raise UserError(f"--accumulation must be in m w.e. per year, above 0 and at most {MAX_ACCUMULATION:g}, "
                            f"got {self.accumulation:g}"
                            f"{_per_thousand(self.accumulation, 'mm w.e. (kg/m² per year)', MAX_ACCUMULATION)}")
        return self

    def unit_warnings(self) -> list[str]:
        """One line per value that firn can have but that looks given in another unit."""
        if self.pixel_m > 1:
            return [f"--pixel-m {self.pixel_m:g}: {self.pixel_m:g} m of firn per pixel row, far coarser than Snow "
                    f"Radar's few centimetres; if it is in centimetres, give --pixel-m {self.pixel_m / 100:g}"]
        return []

    def describe(self) -> str:
        if self.density is not None:
            return f"constant density {self.density:g} g/cm³"
        return (f"Herron-Langway (rho0 {self.surface_density:g} g/cm³, T {self.temperature_c:g} °C, "
                f"A {self.accumulation:g} m w.e./a)")


def _per_thousand(value: float, unit: str, top: float) -> str:
    """The hint that `value` is in `unit` (a thousand times the expected one), when dividing brings it in range."""
    return f" ({unit}? that is {value / 1000:g})" if 0 < value / 1000 <= top else ""


def kovacs_permittivity(density: np.ndarray | float) -> np.ndarray:
    """Real relative permittivity of firn of `density` (g/cm³), Kovacs et al. (1995): (1 + 0.845 ρ)²."""
    return (1.0 + 0.845 * np.asarray(density, dtype=np.float64)) ** 2


def herron_langway_density(depth_m: np.ndarray, temperature_k: np.ndarray | float, accumulation: np.ndarray | float,
                           surface_density: float) -> np.ndarray:
    """Firn density (g/cm³) at `depth_m` by the two-stage Herron & Langway (1980) steady-state model."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    k0 = 11.0 * np.exp(-10160.0 / (GAS_CONSTANT * temperature_k))
    k1 = 575.0 * np.exp(-21400.0 / (GAS_CONSTANT * temperature_k))
    z0 = np.log(surface_density / (RHO_ICE - surface_density))
    crit = np.log(0.55 / (RHO_ICE - 0.55))
    h55 = (crit - z0) / (RHO_ICE * k0)
    stage1 = RHO_ICE * k0 * depth_m + z0
    stage2 = RHO_ICE * k1 / np.sqrt(np.maximum(accumulation, 1e-3)) * (depth_m - h55) + crit
    q = np.exp(np.where(depth_m <= h55, stage1, stage2))
    return RHO_ICE * q / (1.0 + q)


def density_at(depth_m: np.ndarray, firn: FirnModel) -> np.ndarray:
    """ρ(z) in g/cm³ of the model's profile (constant or Herron-Langway)."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    if firn.density is not None:
        return np.full(depth_m.shape, float(firn.density))
    return herron_langway_density(depth_m, firn.temperature_c + 273.15, firn.accumulation, firn.surface_density)


def _profile_grid(max_twtt: float, firn: FirnModel) -> tuple[np.ndarray, np.ndarray]:
    """(depth, two-way time) on a grid deep enough for `max_twtt` seconds."""
    depth_max = C_LIGHT * max(max_twtt, 0.0) / 2.0 + 1.0   # √ε ≥ 1: never deeper than in vacuum
    z = np.arange(0.0, depth_max + DEPTH_STEP_M, DEPTH_STEP_M)
    rho = density_at(z, firn)
    slowness = 2.0 * np.sqrt(kovacs_permittivity(rho)) / C_LIGHT
    return z, np.concatenate([[0.0], np.cumsum(0.5 * (slowness[1:] + slowness[:-1]) * np.diff(z))])


def depth_from_twtt(twtt: np.ndarray, firn: FirnModel) -> np.ndarray:
    """Depth (m) below the surface of two-way travel times (s) below the surface; NaN stays NaN."""
    twtt = np.asarray(twtt, dtype=np.float64)
    finite = np.isfinite(twtt)
    out = np.full(twtt.shape, np.nan)
    if not finite.any():
        return out
    if firn.density is not None:
        out[finite] = C_LIGHT * twtt[finite] / (2.0 * np.sqrt(kovacs_permittivity(firn.density)))
        return out
    z, t = _profile_grid(float(twtt[finite].max()), firn)
    out[finite] = np.interp(twtt[finite], t, z)
    return out


def density_g_cm3(values: np.ndarray) -> np.ndarray:
    """A file's density field in g/cm³ (``curr_dens`` is in kg/m³ in the processed set: values above 10)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return values / 1000.0 if finite.size and np.nanmedian(finite) > 10 else values


@dataclass
class LayerUnits:
    """Per-layer thickness [L - 1, W] in pixels, metres and m w.e., and how the metres were obtained."""

    thickness_px: np.ndarray
    thickness_m: np.ndarray
    thickness_mwe: np.ndarray
    depth_source: str      # "travel time" or "pixel size"
    density_source: str    # "curr_dens", "constant ..." or "Herron-Langway ..."
    pixel_m: float | None  # metres per pixel at the surface density, when the pixel size is known


def layer_units(rows: np.ndarray, firn: FirnModel, *, twtt: np.ndarray | None = None,
                layer_density: np.ndarray | None = None) -> LayerUnits:
    """Thickness of every layer between consecutive rows of `rows` [L, W] (row 0 = surface).

    `twtt` [L, W]: two-way travel time below the surface of each row (s) when known (CReSIS layers, or
    pixel rows read through an echogram ``Time`` axis); otherwise rows are ``firn.pixel_m`` apart.
    `layer_density` [≥ L - 1, W]: the file's ``curr_dens`` (layer i between rows i and i + 1).
    """
    rows = np.asarray(rows, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        px = np.diff(rows, axis=0)
    n = px.shape[0]
    dens = None
    if layer_density is not None and layer_density.ndim == 2 and layer_density.shape[0] >= n:
        dens = density_g_cm3(layer_density[:n])
    depth = None
    if twtt is not None:
        twtt = np.asarray(twtt, dtype=np.float64)
        depth_source, pixel_m = "travel time", None
        if dens is not None:
            with np.errstate(invalid="ignore"):
                metres = C_LIGHT * np.diff(twtt, axis=0) / (2.0 * np.sqrt(kovacs_permittivity(dens)))
        else:
            depth = depth_from_twtt(twtt - twtt[:1], firn)
            metres = np.diff(depth, axis=0)
    else:
        depth_source, pixel_m = "pixel size", firn.pixel_m
        depth = (rows - rows[:1]) * firn.pixel_m
        metres = px * firn.pixel_m
    if dens is not None:
        mwe, density_source = metres * dens, "curr_dens"
    elif firn.density is not None:
        mwe, density_source = metres * firn.density, firn.describe()
    else:  # the mass between the two depths of the Herron-Langway profile
        mwe, density_source = np.full(metres.shape, np.nan), firn.describe()
        finite = np.isfinite(depth[:-1]) & np.isfinite(depth[1:])
        if finite.any():
            z, mass = _mass_grid(float(np.nanmax(depth[1:][finite])), firn)
            mwe[finite] = (np.interp(depth[1:][finite], z, mass) - np.interp(depth[:-1][finite], z, mass)) / 1000.0
    return LayerUnits(px, metres, mwe, depth_source, density_source, pixel_m)


def _interp_extrapolate(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """np.interp that continues the end segments' slopes beyond the ends (xp increasing)."""
    out = np.interp(x, xp, fp)
    if xp.size >= 2:
        lo, hi = x < xp[0], x > xp[-1]
        out[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / max(xp[1] - xp[0], 1e-12)
        out[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / max(xp[-1] - xp[-2], 1e-12)
    return out


def rebuilt_layer_units(rows: np.ndarray, layers: list[int], firn: FirnModel, *, thickness_px: np.ndarray | None = None,
                        twtt: np.ndarray | None = None, layer_density: np.ndarray | None = None) -> LayerUnits:
    """`layer_units` of tracked `rows` [L, W] down to the deepest of `layers`, those layers given `thickness_px`.

    `thickness_px` [len(layers), W]: thicknesses (e.g. predicted) replacing the tracked ones of `layers` (None:
    the tracked rows as they are); the rows are rebuilt from the surface down with them. `twtt` [L, W], the
    travel time of the tracked rows, is read at the rebuilt rows: interpolated on the tracked rows, the end
    slopes continued. `layer_density` as in `layer_units`.
    """
    tracked = np.asarray(rows, dtype=np.float64)[:max(layers) + 2]
    rebuilt = tracked
    if thickness_px is not None:
        thick = np.diff(tracked, axis=0)
        thick[layers] = np.asarray(thickness_px, dtype=np.float64)
        rebuilt = tracked[:1] + np.concatenate([np.zeros((1, tracked.shape[1])), np.cumsum(thick, axis=0)])
    if twtt is not None:
        own = np.asarray(twtt, dtype=np.float64)[:tracked.shape[0]]
        twtt = np.stack([_interp_extrapolate(rebuilt[:, j], tracked[:, j], own[:, j])
                         for j in range(rebuilt.shape[1])], 1)
    return layer_units(rebuilt, firn, twtt=twtt, layer_density=layer_density)


def _mass_grid(depth_max: float, firn: FirnModel) -> tuple[np.ndarray, np.ndarray]:
    """(depth, cumulative mass kg/m² from the surface) of the model's density profile."""
    z = np.arange(0.0, depth_max + 2 * DEPTH_STEP_M, DEPTH_STEP_M)
    rho = density_at(z, firn)
    return z, np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * 1000.0 * np.diff(z))])


def pixel_size_m(dt: float, density: float) -> float:
    """Metres of firn per echogram row of `dt` seconds two-way time at `density` (g/cm³): dt·c / (2√ε')."""
    return float(dt * C_LIGHT / (2.0 * np.sqrt(kovacs_permittivity(density))))


__all__ = ["C_LIGHT", "FirnModel", "LayerUnits", "density_at", "density_g_cm3", "depth_from_twtt",
           "herron_langway_density", "kovacs_permittivity", "layer_units", "pixel_size_m", "rebuilt_layer_units"]
