"""Snow tests: one small simulated campaign per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nivalis.snow.simulate import SimulatorConfig, simulate_campaign


@pytest.fixture(scope="session")
def campaign(tmp_path_factory) -> Path:
    """32 simulated radargrams (two flights), about two thirds of them usable, with echograms."""
    out = tmp_path_factory.mktemp("snow_campaign")
    simulate_campaign(out, SimulatorConfig(radargrams=32, seed=5, radargrams_per_flight=(16, 16), echograms=True))
    return out
