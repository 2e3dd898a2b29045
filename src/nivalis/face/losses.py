r"""Margin heads for face recognition (insightface `recognition/arcface_torch/losses.py`): apart from the backbone.

Each head holds a class-weight matrix :math:`W \in \mathbb{R}^{C \times d}` and maps embeddings
:math:`x_i` with labels :math:`y_i` to logits; cross-entropy on those logits is the loss. Both the
embeddings and the rows of :math:`W` are L2-normalised, so
:math:`\cos\theta_{ij} = \frac{x_i^\top W_j}{\lVert x_i\rVert\,\lVert W_j\rVert}`.

- **ArcFace** (Deng et al. 2019, additive angular margin, :math:`s = 64`, :math:`m = 0.5`):

  .. math::
      z_{ij} = s \cdot \begin{cases} \phi(\theta_{ij}) & j = y_i \\ \cos\theta_{ij} & j \ne y_i \end{cases},
      \qquad
      \phi(\theta) = \begin{cases} \cos(\theta + m) & \text{if } \cos\theta > \cos(\pi - m) \\
                                   \cos\theta - m \sin m & \text{otherwise} \end{cases}

  with :math:`\cos(\theta + m) = \cos\theta\cos m - \sin\theta\sin m`,
  :math:`\sin\theta = \sqrt{1 - \cos^2\theta}`. The second branch (where :math:`\theta + m \ge \pi` would
  make :math:`\cos(\theta + m)` rise again) is insightface's: its constant is
  :math:`\sin(\pi - m)\,m = m \sin m`. With ``easy_margin=True`` the margin applies only where
  :math:`\cos\theta > 0` and the target logit is :math:`\cos\theta` elsewhere.
- **CosFace** (Wang et al. 2018, additive cosine margin, :math:`s = 64`, :math:`m = 0.35`):
  :math:`z_{iy_i} = s(\cos\theta_{iy_i} - m)`, :math:`z_{ij} = s\cos\theta_{ij}` otherwise.
- **Softmax**: the same normalised head without a margin, :math:`z_{ij} = s\cos\theta_{ij}` (NormFace),
  so a comparison with ArcFace changes nothing but the margin. (The ArcFace paper's "Softmax" baseline is
  an unnormalised linear classifier; a backbone built with ``num_classes > 0`` is that.)

Shapes: embeddings (N, d), labels (N,) int64 → logits (N, C). Labels of -1 (insightface's "not on this
rank") get no margin. Without labels (``labels=None``) every head returns the margin-free
:math:`s\cos\theta`, which is what prediction and validation accuracy use.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LOSSES", "MARGIN_RANGES", "ArcFaceHead", "CosFaceHead", "MarginHead", "SoftmaxHead", "build_head",
           "check_margin"]


class MarginHead(nn.Module):
    """Normalised class weights; `cosine(x)` is the (N, C) matrix of cosines, subclasses add the margin.

    Args:
        embedding_size: d, the embedding dimension.
        num_classes: C, the number of training identities.
        scale: s, the logit scale (the radius of the hypersphere).
        margin: m (meaning depends on the head).
    """

    default_margin = 0.0

    def __init__(self, embedding_size: int, num_classes: int, scale: float = 64.0, margin: float | None = None):
        super().__init__()
        self.embedding_size, self.num_classes = embedding_size, num_classes
        self.scale = float(scale)
        self.margin = float(self.default_margin if margin is None else margin)
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_size))
        nn.init.normal_(self.weight, std=0.01)  # arcface_torch's PartialFC initialisation

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1)).clamp(-1.0, 1.0)

    def target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        """φ(cos θ) of the target class (before scaling); the identity here."""
        return cos_target

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(x)
        if labels is None:
            return cos * self.scale
        index = torch.where(labels != -1)[0]
        if index.numel():
            target = labels[index].long()
            cos = cos.clone()
            cos[index, target] = self.target_logit(cos[index, target])
        return cos * self.scale

    def extra_repr(self) -> str:
        return f"{self.embedding_size}, {self.num_classes}, s={self.scale:g}, m={self.margin:g}"


class ArcFaceHead(MarginHead):
    """Additive angular margin: the target logit is s·cos(θ + m) (see the module docstring for θ + m ≥ π)."""

    default_margin = 0.5

    def __init__(self, embedding_size: int, num_classes: int, scale: float = 64.0, margin: float | None = None,
                 easy_margin: bool = False):
        super().__init__(embedding_size, num_classes, scale, margin)
        m = self.margin
        self.easy_margin = easy_margin
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.th = math.cos(math.pi - m)
        self.mm = math.sin(math.pi - m) * m

    def target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        sin = torch.sqrt((1.0 - cos_target * cos_target).clamp_min(0.0))
        cos_theta_m = cos_target * self.cos_m - sin * self.sin_m
        if self.easy_margin:
            return torch.where(cos_target > 0, cos_theta_m, cos_target)
        return torch.where(cos_target > self.th, cos_theta_m, cos_target - self.mm)


class CosFaceHead(MarginHead):
    """Additive cosine margin: the target logit is s·(cos θ − m)."""

    default_margin = 0.35

    def target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        return cos_target - self.margin


class SoftmaxHead(MarginHead):
    """Normalised softmax without a margin: every logit is s·cos θ."""

    default_margin = 0.0


LOSSES = {"arcface": ArcFaceHead, "cosface": CosFaceHead, "softmax": SoftmaxHead}
#: margins that keep the target logit a penalty: ArcFace's angle m in [0, π/2) (θ + m stays within the range
#: where cos falls for a well-classified sample), CosFace's cosine shift m in [0, 1], none for softmax
MARGIN_RANGES = {"arcface": (0.0, math.pi / 2, "[0, π/2)"), "cosface": (0.0, 1.0, "[0, 1]"), "softmax": (0.0, 0.0, "0")}


def check_margin(loss: str, scale: float, margin: float | None) -> None:
    """A UserError unless the scale s is finite and > 0 and the margin m lies in the loss's `MARGIN_RANGES`."""
    from nivalis.errors import UserError

    if not (math.isfinite(scale) and scale > 0):
        raise UserError(f"the scale s must be a finite number > 0 (got {scale:g})")
    if margin is None:
        return
    low, high, text = MARGIN_RANGES[loss]
    inside = math.isfinite(margin) and low <= margin and (margin < high if loss == "arcface" else margin <= high)
    if not inside:
        raise UserError(f"--margin {margin:g} is outside {loss}'s meaningful range {text}")


def build_head(loss: str, embedding_size: int, num_classes: int, scale: float = 64.0,
               margin: float | None = None) -> MarginHead:
    """The head of `loss` (arcface, cosface or softmax) with its default margin unless `margin` is given."""
    from nivalis.errors import UserError

    key = loss.strip().lower()
    if key not in LOSSES:
        raise UserError(f"unknown face loss {loss!r} (arcface, cosface, softmax)")
    check_margin(key, scale, margin)
    return LOSSES[key](embedding_size, num_classes, scale=scale, margin=margin)
