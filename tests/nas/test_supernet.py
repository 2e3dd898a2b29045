"""Supernet: a path equals its standalone child, only the path trains, SGDR schedule, BN-safe evaluation."""

import math

import torch

from nivalis.nas.supernet import Supernet, evaluate_arch, random_shift, train_shared_epoch


def test_path_equals_standalone_child(tiny_layer_space):
    torch.manual_seed(0)
    net = Supernet(tiny_layer_space)
    x = torch.randn(6, 1, 16, 16)
    gen = torch.Generator().manual_seed(1)
    for arch in [tiny_layer_space.baseline(), tiny_layer_space.random_arch(gen)]:
        for p in net.parameters():  # random BN affine so zero-initialised branches also matter
            p.data.normal_(0, 0.3) if p.dim() == 1 else None
        child = net.child(arch)
        net.train(), child.train()
        assert torch.allclose(net(x), child(x), atol=1e-5)
        net.eval(), child.eval()
        assert torch.allclose(net(x), child(x), atol=1e-5)


def test_only_the_active_path_gets_gradients(tiny_space):
    net = Supernet(tiny_space)
    arch = [1, 2, 3, 0, 1, 2, 3, 0]
    net.set_arch(arch)
    net(torch.randn(4, 1, 16, 16)).sum().backward()
    for mixed, code in zip(net.mixed, tiny_space.expand(arch)):
        for k, unit in enumerate(mixed.candidates):
            got = [p.grad is not None for p in unit.parameters()]
            assert all(got) if mixed.codes[k] == code else not any(got)


def _sgdr_reference(epoch: float, *, lr_max: float, lr_min: float, t0: int, t_mult: int) -> float:
    """SGDR's formula written out (the search's own schedule before it used PyTorch's scheduler)."""
    t_i, start = t0, 0.0
    while epoch >= start + t_i:
        start += t_i
        t_i *= t_mult
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * (epoch - start) / t_i))


def _sgdr(t0: int = 10, t_mult: int = 2):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=t0, T_mult=t_mult, eta_min=1e-4)

    def lr(epoch: float) -> float:
        sched.step(epoch)
        return opt.param_groups[0]["lr"]
    return lr


def test_sgdr_restarts_at_10_and_30():
    lr = _sgdr()
    assert lr(0) == 0.1 and lr(10) == 0.1 and lr(30) == 0.1
    assert math.isclose(lr(5), (0.1 + 1e-4) / 2)
    assert math.isclose(lr(20), (0.1 + 1e-4) / 2)
    assert lr(29.99) < 1e-3


def test_sgdr_stepped_per_batch_follows_the_formula():
    for t0, t_mult, steps in [(10, 2, 7), (1, 2, 3), (3, 3, 4), (5, 1, 3)]:
        lr = _sgdr(t0, t_mult)
        for e in range(40):
            for k in range(steps):
                expected = _sgdr_reference(e + k / steps, lr_max=0.1, lr_min=1e-4, t0=t0, t_mult=t_mult)
                assert math.isclose(lr(e + k / steps), expected, rel_tol=1e-12, abs_tol=1e-15)


def test_shared_training_learns_and_evaluation_leaves_bn_alone(tiny_space):
    torch.manual_seed(0)
    net = Supernet(tiny_space)
    x = torch.randn(128, 1, 16, 16)
    y = (x[:, 0, :8].mean((1, 2)) > x[:, 0, 8:].mean((1, 2))).long()  # learnable: which half is brighter
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    losses = [train_shared_epoch(net, x, y, sample_arch=lambda: tiny_space.random_arch(gen), optimizer=opt,
                                 epoch=e, batch_size=32, generator=gen)["train_loss"]
              for e in range(6)]
    assert losses[-1] < 0.8 * losses[0]
    running = [m.running_mean.clone() for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    acc = evaluate_arch(net, tiny_space.baseline(), x, y, batch_size=64)
    assert 0.0 <= acc <= 1.0
    after = [m.running_mean for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running, after))


def test_random_shift_is_a_crop_of_the_padded_batch():
    x = torch.randn(5, 2, 8, 8)
    out = random_shift(x, torch.Generator().manual_seed(3), pad=2)
    offsets = torch.randint(0, 5, (5, 2), generator=torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    assert out.shape == x.shape and not torch.equal(out, x)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        assert torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8])


def test_pretrained_backbone_goes_to_the_original_candidates(tmp_path):
    """A torchvision-layout file: shared weights and every slot's conv 3×3 candidate come from it, nothing else."""
    import pytest

    from nivalis.errors import UserError
    from nivalis.models import create_model
    from nivalis.models.weights import reference_names
    from nivalis.nas.space import SearchSpace
    from tests.models.published_layouts import randomise

    kwargs = {"stem": "imagenet", "width_mult": 0.25}
    space = SearchSpace("resnet18", "layer", input_shape=(3, 64, 64), num_classes=5, model_kwargs=kwargs)
    plain = randomise(create_model("resnet18", num_classes=1000, **kwargs))  # ImageNet's 1000 classes
    names = reference_names(plain, "torchvision")
    torch.save({names[k]: v for k, v in plain.state_dict().items()}, tmp_path / "resnet18-f37072fd.pth")
    torch.manual_seed(0)
    net = Supernet(space)
    before = {k: v.clone() for k, v in net.net.state_dict().items()}
    report = net.load_backbone(tmp_path / "resnet18-f37072fd.pth")
    assert report["source"] == "torchvision" and sorted(report["reinitialised"]) == ["fc.bias", "fc.weight"]
    after = net.net.state_dict()
    for key, value in after.items():
        original = ".candidates." not in key or ".candidates.0." in key
        if original and not key.startswith("fc."):
            plain_key = key.replace(".candidates.0.", ".")
            assert torch.equal(value, plain.state_dict()[plain_key]), key
        else:  # the other candidates and the 5-class layer keep their fresh initialisation
            assert torch.equal(value, before[key]), key
    # the original path is the file's network (its class layer aside): same features in eval mode
    child = net.child(space.baseline()).eval()
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(child.forward_features(x), plain.forward_features(x), atol=1e-5)
    wider = SearchSpace("resnet18", "layer", input_shape=(3, 64, 64), num_classes=5,
                        model_kwargs={"stem": "imagenet", "width_mult": 0.5})
    with pytest.raises(UserError, match="shape mismatch at"):
        Supernet(wider).load_backbone(tmp_path / "resnet18-f37072fd.pth")
