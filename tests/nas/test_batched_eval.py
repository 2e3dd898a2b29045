"""Shared-prefix evaluation of one update's children equals child-by-child evaluation; FairNAS sampling is fair."""

import numpy as np
import pytest
import torch

from nivalis.errors import UserError
from nivalis.nas.config import NARConfig, budget_config
from nivalis.nas.controller import FairSampler, OperatorController, Reinforce
from nivalis.nas.supernet import Supernet, evaluate_arch, evaluate_archs


@pytest.mark.parametrize("space_name", ["tiny_space", "tiny_layer_space"])
def test_shared_prefix_rewards_equal_per_child_rewards(space_name, request):
    space = request.getfixturevalue(space_name)
    torch.manual_seed(0)
    net = Supernet(space)
    for p in net.parameters():  # random BN affine so every candidate changes the logits
        p.data.normal_(0, 0.3) if p.dim() == 1 else None
    x, y = torch.randn(40, 1, 16, 16), torch.randint(0, 10, (40,))
    gen = torch.Generator().manual_seed(3)
    archs = [space.random_arch(gen) for _ in range(12)]
    archs += [list(archs[0]), archs[1][:-1] + [archs[2][-1]]]  # a duplicate and a long shared prefix
    running = [m.running_mean.clone() for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    batched = evaluate_archs(net, archs, x, y)
    single = [evaluate_arch(net, a, x, y, batch_size=len(x)) for a in archs]
    assert np.allclose(batched, single, atol=1e-6)
    assert len(set(single)) > 2  # the children really differ
    after = [m.running_mean for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running, after))  # evaluation moved no running average
    assert evaluate_archs(net, archs, x, y, shared_prefix=False) == single


def test_fair_sampling_visits_each_operator_equally():
    choices = [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 3], [0, 2]]
    sampler = FairSampler(choices, torch.Generator().manual_seed(0))
    counts = np.zeros((len(choices), 4), dtype=int)
    for _ in range(12):  # 12 = a whole number of cycles of 4, 3 and 2 candidates
        arch = sampler()
        counts[np.arange(len(arch)), arch] += 1
    for d, allowed in enumerate(choices):
        assert all(counts[d, c] == 12 // len(allowed) for c in allowed)
        assert counts[d].sum() == 12


def _policy_gradient(scale: float, normalize: bool) -> torch.Tensor:
    torch.manual_seed(0)
    ctrl = OperatorController([[0, 1, 2, 3]] * 3)
    trainer = Reinforce(ctrl, normalize=normalize, baseline_decay=0.0, entropy_weight=0.0)
    trainer.optimizer = torch.optim.SGD(ctrl.parameters(), lr=0.0)  # keep the gradient, move nothing
    gen = torch.Generator().manual_seed(0)
    trainer.update([(*ctrl(generator=gen)[1:], scale * r) for r in (0.0, 1.0, 2.0, 3.0)])
    return ctrl.head.weight.grad.clone()


def test_normalised_advantages_do_not_shrink_with_the_reward_spread():
    assert torch.allclose(_policy_gradient(0.01, True), _policy_gradient(1.0, True), atol=1e-6)
    assert torch.allclose(100 * _policy_gradient(0.01, False), _policy_gradient(1.0, False), atol=1e-6)
    assert _policy_gradient(1.0, False).abs().sum() > 0


def test_absurd_width_is_refused_before_building():
    with pytest.raises(UserError, match="width"):
        NARConfig(width=1e30)
    with pytest.raises(UserError, match="width"):
        NARConfig(width=float("nan"))


def test_quick_budget_defaults_and_overrides():
    cfg = budget_config(True)
    assert cfg.width == 0.5 and cfg.derive_finetune_steps == 10
    cfg = budget_config(True, width=1.0, derive_finetune_steps=20)
    assert cfg.width == 1.0 and cfg.derive_finetune_steps == 20
    assert budget_config(False, width=None).width == 1.0
