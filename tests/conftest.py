"""Test-session settings: one torch thread, for this process and every CLI subprocess it starts.

The tests train tiny models on small batches, where a second intra-op thread buys nothing and, on a
busy 2-core machine, waits for a core: `nivalis train --model lenet5 --epochs 15` took 12 s with one
thread and 56 s with two under load, with identical results.
"""

import os
import tempfile
from pathlib import Path

import pytest
import torch

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one thread and gives back what it found (some code under test changes the count).

    With several processes sharing 2 cores, OpenMP threads wait on each other: a ResNet-50 forward +
    backward at 32×32 took 10-14 s on 2 threads under load and 0.25 s on one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _session_tmp(tmp_path_factory):
    """Temporary files of the code under test go to this session's pytest folder, not the machine's /tmp.

    PyG writes a generated module for `ChebConv` and `GCNConv` in every process that builds one, and torchrun
    a rendezvous folder per launch; neither removes them, and a run of tests/layers and tests/snow alone left
    19 such modules and a torchrun folder in /tmp for good. Child processes (CLI runs, spawned workers,
    torchrun) inherit the setting; pytest prunes its old folders.
    """
    path = str(tmp_path_factory.mktemp("tmp"))
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = path, path
    yield
    tempfile.tempdir = saved_dir
    if saved_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved_env


# Shared data fixtures (session-scoped, built only when a test asks for them).

@pytest.fixture(scope="session")
def campaign(tmp_path_factory) -> Path:
    """32 simulated radargrams (two flights), about two thirds of them usable, with echograms."""
    from nivalis.snow.simulate import SimulatorConfig, simulate_campaign

    out = tmp_path_factory.mktemp("snow_campaign")
    simulate_campaign(out, SimulatorConfig(radargrams=32, seed=5, radargrams_per_flight=(16, 16), echograms=True))
    return out
