"""Layer tests run on one intra-op thread, restored afterwards (see tests/models/conftest.py for why)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
