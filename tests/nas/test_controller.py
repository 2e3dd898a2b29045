"""ENAS controller: masks, log-probabilities, and REINFORCE that learns a known best architecture."""

import math

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
