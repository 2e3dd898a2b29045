"""Shape-only builds: counts equal real-tensor counts; initialisers are skipped on meta tensors only."""

import threading

import pytest
import torch
import torch.nn as nn

from nivalis.models import create_model
from nivalis.profile import count
from nivalis.profile.meta import build_meta, meta_counts, param_count, shape_only


@pytest.mark.parametrize("name, shape", [("resnet18", (3, 64, 64)), ("mobilenet_v3_small", (3, 64, 64)),
                                         ("effnet_cifar", (3, 32, 32))])
def test_meta_counts_equal_real_tensor_counts(name, shape):
    assert meta_counts(name, shape, num_classes=10) == count(create_model(name, num_classes=10), shape)


def test_meta_build_has_no_storage_and_exact_params():
    model = build_meta("vgg19")
    assert all(p.is_meta for p in model.parameters())
    assert param_count("vgg19") == 143_667_240  # Simonyan & Zisserman, configuration E
    assert meta_counts("vgg19") == {"params": 143_667_240, "flops": None}


def test_real_tensors_are_still_initialised_inside_the_context():
    with shape_only():
        real = torch.zeros(3, device="cpu")
        nn.init.ones_(real)
        meta = nn.Linear(4, 2)
    assert torch.equal(real, torch.ones(3)) and meta.weight.is_meta


def test_the_context_does_not_reach_other_threads():
    seen = {}

    def build():
        torch.manual_seed(0)
        seen["weight"] = nn.Linear(4, 2).weight

    with shape_only():
        worker = threading.Thread(target=build)
        worker.start()
        worker.join()
    torch.manual_seed(0)
    assert not seen["weight"].is_meta and torch.equal(seen["weight"], nn.Linear(4, 2).weight)
