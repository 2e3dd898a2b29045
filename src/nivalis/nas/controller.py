"""NAR's meta-controller (seed 004 §3.2): ENAS's LSTM policy over operator choices, trained with REINFORCE.

The controller (Pham et al. 2018, "ENAS") emits one operator per decision d = 1..D. Its input at step
d is the embedding of the previous choice (a learned start token at d = 1), an LSTM cell updates
(h_d, c_d), and a shared linear head gives the logits over the operator codes, squashed as in ENAS
and masked to the candidates allowed at d:

.. math::
    \\ell_d = C \\tanh(W h_d / T), \\qquad \\pi(a_d \\mid a_{<d}) = \\mathrm{softmax}(\\ell_d)_{a_d}

REINFORCE with a moving-average baseline and an entropy bonus (ENAS adds the entropy to the reward),
averaged over the M architectures sampled for one update (ENAS and NNI aggregate about 20):

.. math::
    R'_m = R_m + \\lambda_H H_m, \\qquad b \\leftarrow \\beta b + (1 - \\beta) \\tfrac1M \\textstyle\\sum_m R'_m, \\qquad
    \\mathcal{L} = -\\frac1M \\sum_{m=1}^{M} \\frac{R'_m - b}{s} \\sum_d \\log \\pi(a^m_d \\mid a^m_{<d})

with s = 1 (ENAS) or, with `normalize=True`, s = the standard deviation of the update's R' (floored at
1e-3): the advantage is then in units of the update's own spread, so the step does not shrink as the
rewards of a converging supernet bunch together.

`FairSampler` draws FairNAS's strictly fair paths (Chu et al. 2019): every K_d steps each decision d
runs each of its K_d candidates exactly once (a fresh random permutation per cycle), so every operator
receives the same number of shared-weight steps whatever the policy prefers.

The policy's entropy H(π) = E_a[Σ_d H(π_d | a_<d)] (chain rule) is estimated by `policy_entropy` from
samples drawn with a fixed generator, so successive estimates differ by the policy, not by the draw.

For the shared-weight phase the search may sample from π floored at ε per candidate,
q_d = (1 − K_d ε) π_d + ε over the K_d candidates of decision d (`floor=ε`): every operator keeps
receiving gradient steps however peaked π becomes (against the collapse onto parameter-free pooling
seen in long searches); the REINFORCE update always uses samples of π itself.

`R` is the proxy-validation accuracy of the sampled child with the shared weights (optionally with
a cost penalty, `nivalis.nas.search.reward`). Defaults here (hidden 64, C = 1.5, no temperature, Adam lr
1e-3 with β1 = 0, λ_H = 1e-4, β = 0.99) are ENAS's macro-search settings; a search takes its own from
`nivalis.nas.config.NARConfig` (a larger learning rate for its much shorter budget).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from nivalis.nas.operators import OPERATOR_NAMES


class OperatorController(nn.Module):
    """LSTM policy emitting one operator code per decision.

    Args:
        choices: allowed codes per decision (from `SearchSpace.choices`).
        hidden: LSTM width (ENAS: 64).
        tanh_constant: C in C·tanh(logits/T) (ENAS macro: 1.5); None disables the squashing.
        temperature: T (ENAS macro: none, i.e. 1).
    """

    def __init__(self, choices: Sequence[Sequence[int]], hidden: int = 64, tanh_constant: float | None = 1.5,
                 temperature: float = 1.0):
        super().__init__()
        self.choices = [list(c) for c in choices]
        self.num_codes = len(OPERATOR_NAMES)
        self.hidden = hidden
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        self.embed = nn.Embedding(self.num_codes + 1, hidden)  # last row: the start token
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.head = nn.Linear(hidden, self.num_codes)
        mask = torch.full((len(self.choices), self.num_codes), float("-inf"))
        for d, allowed in enumerate(self.choices):
            mask[d, allowed] = 0.0
        self.register_buffer("mask", mask)
        for p in self.parameters():  # ENAS initialises the controller uniformly in ±0.1
            nn.init.uniform_(p, -0.1, 0.1)

    def _logits(self, h: torch.Tensor, d: int) -> torch.Tensor:
        logits = self.head(h) / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits + self.mask[d]

    def forward(self, arch: Sequence[int] | None = None, *, generator: torch.Generator | None = None,
                greedy: bool = False, floor: float = 0.0) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Sample (or score a given `arch`, or take the argmax with `greedy`).

        `floor` = ε samples from (1 − K ε) π + ε over each decision's K candidates (ε ≤ 1/K); the
        returned log-probability is always π's. Returns (arch, Σ log π(a_d), Σ H(π_d)); the last two
        carry gradients.
        """
        h = torch.zeros(1, self.hidden)
        c = torch.zeros(1, self.hidden)
        token = torch.tensor([self.num_codes])
        out: list[int] = []
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        for d in range(len(self.choices)):
            h, c = self.lstm(self.embed(token), (h, c))
            logits = self._logits(h, d)[0]
            log_p = torch.log_softmax(logits, dim=-1)
            p = log_p.exp()
            if arch is not None:
                code = int(arch[d])
            elif greedy:
                code = int(torch.argmax(logits))
            else:
                q = p.detach()
                if floor > 0:
                    allowed = torch.isfinite(logits)
                    eps = min(float(floor), 1.0 / int(allowed.sum()))
                    q = torch.where(allowed, (1 - eps * int(allowed.sum())) * q + eps, torch.zeros_like(q))
                code = int(torch.multinomial(q, 1, generator=generator))
            log_prob = log_prob + log_p[code]
            finite = torch.isfinite(log_p)
            entropy = entropy - (p[finite] * log_p[finite]).sum()
            out.append(code)
            token = torch.tensor([code])
        return out, log_prob, entropy

    @torch.no_grad()
    def policy_entropy(self, samples: int = 64, seed: int = 0) -> float:
        """Monte-Carlo estimate of H(π) in nats: the mean of Σ_d H(π_d | a_<d) over `samples` paths drawn
        with a generator seeded by `seed` (the same draws every call, so two estimates compare policies)."""
        gen = torch.Generator().manual_seed(seed)
        return sum(float(self(generator=gen)[2]) for _ in range(samples)) / samples

    def max_entropy(self) -> float:
        """H of the uniform policy over every decision's candidates: Σ_d log K_d."""
        return float(sum(math.log(len(c)) for c in self.choices))

    @torch.no_grad()
    def probabilities(self) -> list[list[float]]:
        """π(code | greedy prefix) per decision: the policy's current preference, for reports."""
        h = torch.zeros(1, self.hidden)
        c = torch.zeros(1, self.hidden)
        token = torch.tensor([self.num_codes])
        rows = []
        for d in range(len(self.choices)):
            h, c = self.lstm(self.embed(token), (h, c))
            p = torch.softmax(self._logits(h, d)[0], dim=-1)
            rows.append([float(v) for v in p])
            token = torch.tensor([int(torch.argmax(p))])
        return rows


class Reinforce:
    """REINFORCE updates of an `OperatorController` with ENAS's baseline and entropy bonus.

    Args:
        controller: the policy.
        lr: Adam learning rate (ENAS macro: 1e-3; β1 = 0 as in ENAS).
        entropy_weight: λ_H (ENAS: 1e-4).
        baseline_decay: β of the moving-average baseline (ENAS: 0.99).
    """

    def __init__(self, controller: OperatorController, lr: float = 1e-3, entropy_weight: float = 1e-4,
                 baseline_decay: float = 0.99, normalize: bool = False):
        self.controller = controller
        self.normalize = normalize
        self.optimizer = torch.optim.Adam(controller.parameters(), lr=lr, betas=(0.0, 0.999))
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.baseline: float | None = None

    def step(self, log_prob: torch.Tensor, entropy: torch.Tensor, reward: float) -> dict[str, float]:
        """One policy-gradient step for a single sampled architecture's `reward` (M = 1)."""
        return self.update([(log_prob, entropy, reward)])

    def update(self, samples: Sequence[tuple[torch.Tensor, torch.Tensor, float]]) -> dict[str, float]:
        """One policy-gradient step on M sampled architectures: (Σ log π, Σ H, reward) each.

        The baseline moves once per update, by the batch's mean reward, before the advantages are taken.
        """
        if not samples:
            raise ValueError("an update needs at least one sampled architecture")
        rewards = [float(r) + self.entropy_weight * float(h.detach()) for _, h, r in samples]
        mean = sum(rewards) / len(rewards)
        if self.baseline is None:
            self.baseline = mean
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * mean
        advantages = [r - self.baseline for r in rewards]
        if self.normalize and len(rewards) > 1:
            spread = max(float(torch.tensor(rewards, dtype=torch.float64).std()), 1e-3)
            advantages = [a / spread for a in advantages]
        loss = -sum(a * lp for a, (lp, _, _) in zip(advantages, samples, strict=True)) / len(samples)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"advantage": sum(advantages) / len(advantages), "baseline": self.baseline,
                "entropy": sum(float(h.detach()) for _, h, _ in samples) / len(samples)}

    def state_dict(self) -> dict:
        return {"controller": self.controller.state_dict(), "optimizer": self.optimizer.state_dict(),
                "baseline": self.baseline}

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]


class FairSampler:
    """FairNAS's strict fairness: per decision, cycles of a random permutation of its candidates.

    Args:
        choices: allowed codes per decision.
        generator: the random source of the permutations.
    """

    def __init__(self, choices: Sequence[Sequence[int]], generator: torch.Generator | None = None):
        self.choices = [list(c) for c in choices]
        self.generator = generator
        self.queues: list[list[int]] = [[] for _ in self.choices]

    def __call__(self) -> list[int]:
        arch = []
        for d, allowed in enumerate(self.choices):
            if not self.queues[d]:
                perm = torch.randperm(len(allowed), generator=self.generator).tolist()
                self.queues[d] = [allowed[i] for i in perm]
            arch.append(self.queues[d].pop())
        return arch


__all__ = ["FairSampler", "OperatorController", "Reinforce"]
