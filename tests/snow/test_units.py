"""Physical units: travel time → depth and m w.e. checked against an independent integration (scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from nivalis.errors import UserError
from nivalis.snow.units import (
    C_LIGHT,
    FirnModel,
    density_at,
    depth_from_twtt,
    herron_langway_density,
    kovacs_permittivity,
    layer_units,
)


def test_kovacs_and_herron_langway_end_points():
    assert kovacs_permittivity(0.917) == pytest.approx((1 + 0.845 * 0.917) ** 2)
    rho = herron_langway_density(np.array([0.0, 10.0, 60.0, 400.0]), 253.15, 0.3, 0.35)
    assert rho[0] == pytest.approx(0.35) and np.all(np.diff(rho) > 0) and rho[-1] < 0.917


def test_depth_from_twtt_matches_an_ode_solver_on_the_herron_langway_profile():
    firn = FirnModel()
    times = np.array([0.0, 20e-9, 80e-9, 250e-9])
    ode = solve_ivp(lambda t, z: C_LIGHT / (2 * np.sqrt(kovacs_permittivity(density_at(z, firn)))),
                    (0.0, times[-1]), [0.0], t_eval=times, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(depth_from_twtt(times, firn), ode.y[0], atol=2e-3)
    constant = FirnModel(density=0.5)
    assert depth_from_twtt(np.array([1e-8]), constant)[0] == pytest.approx(C_LIGHT * 1e-8 / (2 * 1.4225))


def test_water_equivalent_is_the_mass_between_the_layer_depths():
    firn = FirnModel(pixel_m=0.05)
    rows = np.array([[0.0, 0.0], [100.0, 120.0], [260.0, np.nan]])   # depths 0, 5 / 6, 13 m
    units = layer_units(rows, firn)
    np.testing.assert_allclose(units.thickness_m, [[5.0, 6.0], [8.0, np.nan]])
    for (top, bottom), got in (((0, 5), units.thickness_mwe[0, 0]), ((5, 13), units.thickness_mwe[1, 0])):
        mass, _ = quad(lambda z: density_at(np.array(z), firn), top, bottom)
        assert got == pytest.approx(mass, abs=1e-4)
    assert np.isnan(units.thickness_mwe[1, 1])
    dens = np.full((2, 2), 400.0)                                      # curr_dens in kg/m³
    assert layer_units(rows, firn, layer_density=dens).thickness_mwe[0, 1] == pytest.approx(6.0 * 0.4)


def test_firn_model_rejects_impossible_values():
    with pytest.raises(UserError, match="pixel-m"):
        FirnModel(pixel_m=0).validate()
    with pytest.raises(UserError, match="density"):
        FirnModel(density=917).validate()      # kg/m³ where g/cm³ is meant
    for bad in (1e30, float("inf"), float("nan"), -0.04, 1e-6):
        with pytest.raises(UserError, match="pixel-m"):
            FirnModel(pixel_m=bad).validate()
    with pytest.raises(UserError, match=r"kg/m³\? that is 0.35\)"):
        FirnModel(density=350).validate()
    with pytest.raises(UserError, match=r"kg/m³\? that is 0.3\)"):
        FirnModel(surface_density=300).validate()
    with pytest.raises(UserError, match=r"kelvin\? that is -20 °C"):
        FirnModel(temperature_c=253.15).validate()
    with pytest.raises(UserError, match=r"mm w.e. .*that is 0.25\)"):
        FirnModel(accumulation=250).validate()
    for bad in (0.0, 11.0, float("nan")):
        with pytest.raises(UserError, match="accumulation"):
            FirnModel(accumulation=bad).validate()


def test_firn_model_warns_when_a_value_looks_given_in_another_unit():
    assert FirnModel().validate().unit_warnings() == []
    assert FirnModel(pixel_m=0.5).validate().unit_warnings() == []       # a coarse radar, not a unit mistake
    (line,) = FirnModel(pixel_m=4).validate().unit_warnings()            # 4 cm given as 4 m
    assert "centimetres" in line and "--pixel-m 0.04" in line
