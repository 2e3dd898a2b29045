"""ENAS controller: masks, log-probabilities, and REINFORCE that learns a known best architecture."""

import math

import pytest
import torch

from nivalis.nas.controller import OperatorController, Reinforce


def test_samples_respect_the_candidates_and_score_consistently():
    torch.manual_seed(0)
    ctrl = OperatorController([[0, 1], [0, 2, 3], [0, 5]])
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        arch, log_prob, entropy = ctrl(generator=gen)
        assert arch[0] in (0, 1) and arch[1] in (0, 2, 3) and arch[2] in (0, 5)
        again = ctrl(arch)[1]
        assert torch.allclose(log_prob, again)
        max_entropy = 2 * math.log(2) + math.log(3) + math.log(2)  # uniform over 2, 3 and 2 candidates
        assert 0 < float(entropy.detach()) <= max_entropy + 1e-5
    assert all(abs(sum(row) - 1) < 1e-5 for row in ctrl.probabilities())


def test_reinforce_moves_the_policy_to_the_rewarded_operator():
    torch.manual_seed(0)
    choices = [[0, 1, 2, 3]] * 4
    ctrl = OperatorController(choices)
    trainer = Reinforce(ctrl, lr=1e-2, baseline_decay=0.9)
    gen = torch.Generator().manual_seed(0)
    before = sum(row[3] for row in ctrl.probabilities()) / 4
    for _ in range(60):  # reward: the fraction of avg-pool choices
        arch, log_prob, entropy = ctrl(generator=gen)
        trainer.step(log_prob, entropy, sum(a == 3 for a in arch) / len(arch))
    after = sum(row[3] for row in ctrl.probabilities()) / 4
    # C = 1.5 caps π at e^1.5 / (e^1.5 + 3 e^-1.5) = 0.87 over 4 candidates
    assert before < 0.3 and after > 0.8
    assert ctrl(greedy=True)[0] == [3, 3, 3, 3]
    fresh = Reinforce(OperatorController(choices))
    fresh.load_state_dict(trainer.state_dict())
    assert fresh.baseline == trainer.baseline and fresh.controller.probabilities() == ctrl.probabilities()


def test_floor_keeps_every_candidate_sampled_while_log_prob_stays_the_policys():
    torch.manual_seed(0)
    ctrl = OperatorController([[0, 1, 2, 3]] * 3)
    with torch.no_grad():  # a peaked policy: code 2 everywhere
        ctrl.head.bias.fill_(-50.0)
        ctrl.head.bias[2] = 50.0
    gen = torch.Generator().manual_seed(0)
    plain = [ctrl(generator=gen)[0] for _ in range(400)]
    floored = [ctrl(generator=gen, floor=0.05) for _ in range(400)]
    p_other = sum(a != 2 for arch in plain for a in arch) / (3 * 400)
    q_other = sum(a != 2 for arch, _, _ in floored for a in arch) / (3 * 400)
    # π(code 2) = e^1.5 / (e^1.5 + 3 e^-1.5) ≈ 0.87 (C = 1.5); the floor moves 4 · 0.05 of the mass to uniform
    assert abs(p_other - 0.13) < 0.04 and abs(q_other - (0.8 * 0.13 + 0.15)) < 0.04
    arch, log_prob, _ = floored[0]
    assert torch.allclose(log_prob, ctrl(arch)[1])


def test_batched_update_is_the_mean_of_single_sample_gradients():
    torch.manual_seed(0)
    choices = [[0, 1, 2, 3]] * 3
    ctrl = OperatorController(choices)
    gen = torch.Generator().manual_seed(1)
    archs = [ctrl(generator=gen)[0] for _ in range(5)]
    rewards = [0.1, 0.5, 0.9, 0.3, 0.7]
    trainer = Reinforce(ctrl, entropy_weight=0.0, baseline_decay=0.5)
    trainer.baseline = 0.2
    samples = [(*ctrl(a)[1:], r) for a, r in zip(archs, rewards)]
    trainer.optimizer.zero_grad()
    stats = trainer.update(samples)
    b = 0.5 * 0.2 + 0.5 * sum(rewards) / 5
    assert stats["baseline"] == pytest.approx(b) and trainer.baseline == pytest.approx(b)
    # recompute the gradient by hand at the weights before the step: -(1/M) Σ (R_m - b) ∇ log π(a_m)
    torch.manual_seed(0)
    fresh = OperatorController(choices)  # the same initial weights as `ctrl`
    loss = -sum((r - b) * fresh(a)[1] for a, r in zip(archs, rewards)) / 5
    loss.backward()
    for p, q in zip(ctrl.parameters(), fresh.parameters()):
        if q.grad is not None and p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=1e-6)


def test_policy_entropy_is_the_uniform_maximum_for_a_flat_policy():
    ctrl = OperatorController([[0, 1], [0, 2, 3], [0, 1, 2, 3]])
    with torch.no_grad():
        for p in ctrl.head.parameters():
            p.zero_()
    assert ctrl.policy_entropy(samples=8) == pytest.approx(ctrl.max_entropy()) == pytest.approx(math.log(24))
