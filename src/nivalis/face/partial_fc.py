r"""The margin classifier sharded by identity across ranks (insightface's PartialFC), one code path for 1 and N.

With :math:`C` identities on :math:`R` ranks, rank :math:`r` holds the rows of :math:`W` for the contiguous
class range :math:`[c_r, c_{r+1})` (`class_range`: the first :math:`C \bmod R` ranks take one more). A
step on a local batch :math:`x` (:math:`B_r` embeddings) with labels :math:`y`:

1. The embeddings and labels of every rank are gathered, so each rank scores the whole global batch
   (:math:`B = \sum_r B_r` rows) against its shard. The backward of the gather sums the gradient of the
   gathered embeddings over ranks (all-reduce) and keeps this rank's rows: each embedding receives
   :math:`\partial L / \partial x_i` from every shard.
2. Optionally only a sample of the shard's centres scores (`sample_rate` :math:`\rho < 1`): every
   positive centre (a class of this shard present in the global batch) and random negatives up to
   :math:`\lfloor \rho\,(c_{r+1} - c_r) \rfloor` centres in all; labels are renumbered into the sample.
3. Logits :math:`z_{ij} = s\cos\theta_{ij}` with the margin of `nivalis.face.losses` on the target (a label
   outside the shard is :math:`-1`, no margin here).
4. Cross-entropy with a distributed softmax: :math:`m_i = \max_r \max_j z_{ij}` (all-reduce max),
   :math:`S_i = \sum_r \sum_j e^{z_{ij} - m_i}` (all-reduce sum), :math:`p_{iy_i} = e^{z_{iy_i} - m_i}/S_i`
   (all-reduce sum of the one rank holding :math:`z_{iy_i}`),
   :math:`L = -\frac1B \sum_i \log p_{iy_i} = \frac1B \sum_i (\log S_i + m_i - z_{iy_i})`. Its
   gradient with respect to the local logits is :math:`(p_{ij} - [j = y_i]) / B`, computed from the saved
   probabilities without another collective.

Every rank thus gets the same :math:`L` and, at :math:`\rho = 1`, the same embedding and centre gradients
as one process holding the whole classifier over the global batch. In one process every collective is the
identity. `gather_classifier` / `load_classifier` move between the shard and the whole :math:`W` (and the
optimizer's per-row state), so a checkpoint holds the whole classifier and resumes on any world size.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.engine.distributed import DistContext, all_gather_rows, all_reduce_, get_context
from nivalis.errors import UserError
from nivalis.face.losses import build_head

__all__ = ["ShardedMarginHead", "class_range", "gather_classifier", "load_classifier"]


def class_range(num_classes: int, rank: int, world_size: int) -> tuple[int, int]:
    """The identities `[start, stop)` that rank `rank` of `world_size` holds (contiguous, sizes differ by ≤ 1)."""
    base, extra = divmod(num_classes, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class _GatherRows(torch.autograd.Function):
    """All ranks' rows concatenated; backward: the gradient summed over ranks, this rank's rows."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = all_gather_rows(x.contiguous())
        sizes = [p.shape[0] for p in parts]
        ctx.start = sum(sizes[:get_context().rank])
        ctx.rows = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = all_reduce_(grad.contiguous().clone(), "sum")
        return grad[ctx.start:ctx.start + ctx.rows]


class _ShardedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy over the global batch of logits split by class across ranks (module docstring, 4)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = logits if logits.dtype == torch.float64 else logits.float()
        peak = all_reduce_(logits.max(dim=1).values, "max")
        prob = torch.exp(logits - peak[:, None])
        total = all_reduce_(prob.sum(dim=1), "sum")
        prob = prob / total[:, None]
        here = torch.where(label != -1)[0]
        target = logits.new_zeros(logits.shape[0])
        target[here] = logits[here, label[here]]
        all_reduce_(target, "sum")
        ctx.save_for_backward(prob, label, here)
        return (total.log() + peak - target).mean()  # −log p, in log-sum-exp form (p underflows at s = 64)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        prob, label, here = ctx.saved_tensors
        out = prob.clone()
        out[here, label[here]] -= 1.0
        return out * (grad / prob.shape[0]), None


class ShardedMarginHead(nn.Module):
    """This rank's shard of an ArcFace / CosFace / softmax classifier; `forward(embeddings, labels)` → the loss.

    Args:
        loss: arcface, cosface or softmax (`nivalis.face.losses.build_head`).
        embedding_size, num_classes, scale, margin: as for `build_head` (num_classes counts every rank's).
        sample_rate: share of the shard's centres that score each step (positives always), in (0, 1].
        seed: seeds the whole classifier's initialisation, so any world size starts from the same W.
        context: the rank and world size (default: `get_context()`).
    """

    def __init__(self, loss: str, embedding_size: int, num_classes: int, scale: float = 64.0,
                 margin: float | None = None, *, sample_rate: float = 1.0, seed: int = 0,
                 context: DistContext | None = None):
        super().__init__()
        ctx = context or get_context()
        if not 0.0 < sample_rate <= 1.0:
            raise UserError(f"--sample-rate must be in (0, 1] (got {sample_rate:g})")
        if num_classes < ctx.world_size:
            raise UserError(f"{num_classes} identities cannot be shared by {ctx.world_size} processes")
        self.num_classes, self.sample_rate = num_classes, float(sample_rate)
        self.rank, self.world_size = ctx.rank, ctx.world_size
        self.start, self.stop = class_range(num_classes, ctx.rank, ctx.world_size)
        self.margin_head = build_head(loss, embedding_size, self.stop - self.start, scale, margin)
        generator = torch.Generator().manual_seed(seed)
        full = torch.randn(num_classes, embedding_size, generator=generator) * 0.01  # PartialFC's N(0, 0.01)
        with torch.no_grad():
            self.margin_head.weight.copy_(full[self.start:self.stop])

    @property
    def weight(self) -> nn.Parameter:
        return self.margin_head.weight

    def _sample(self, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight rows that score, labels renumbered into them) — all rows at sample rate 1."""
        n_local = self.stop - self.start
        if self.sample_rate >= 1.0:
            return self.weight, None
        positive = torch.unique(local[local != -1])
        keep = max(int(self.sample_rate * n_local), positive.numel())
        score = torch.rand(n_local, device=self.weight.device)
        score[positive] = 2.0
        index = torch.topk(score, k=keep).indices.sort().values
        return self.weight[index], index

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = _GatherRows.apply(embeddings)
        y = torch.cat(all_gather_rows(labels.reshape(-1).long()))
        local = torch.where((y >= self.start) & (y < self.stop), y - self.start, torch.full_like(y, -1))
        weight, index = self._sample(local)
        if index is not None:
            at = torch.searchsorted(index, local.clamp_min(0))
            local = torch.where(local != -1, at, local)
        dtype = torch.float64 if torch.float64 in (x.dtype, weight.dtype) else torch.float32
        cos = F.linear(F.normalize(x.to(dtype), dim=1), F.normalize(weight.to(dtype), dim=1)).clamp(-1.0, 1.0)
        here = torch.where(local != -1)[0]
        if here.numel():
            cos = cos.clone()
            cos[here, local[here]] = self.margin_head.target_logit(cos[here, local[here]])
        return _ShardedCrossEntropy.apply(cos * self.margin_head.scale, local)

    def extra_repr(self) -> str:
        return (f"classes {self.start}..{self.stop - 1} of {self.num_classes} (rank {self.rank}/{self.world_size}), "
                f"sample_rate={self.sample_rate:g}")


def gather_classifier(head: ShardedMarginHead, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """The whole classifier on every rank: `weight` (C, d) and the optimizer's per-row state gathered likewise
    (`state`: name → full tensor, or a plain value such as Adam's step). Every rank must call it."""
    weight = torch.cat(all_gather_rows(head.weight.detach()))
    state: dict = {}
    if optimizer is not None:
        for name, value in optimizer.state.get(head.weight, {}).items():
            shard = isinstance(value, torch.Tensor) and value.shape == head.weight.shape
            state[name] = torch.cat(all_gather_rows(value.detach())) if shard else value
    return {"weight": weight.cpu(), "state": {k: v.cpu() if isinstance(v, torch.Tensor) else v
                                              for k, v in state.items()}}


def load_classifier(head: ShardedMarginHead, whole: dict, optimizer: torch.optim.Optimizer | None = None) -> None:
    """This rank's rows of a gathered classifier (`gather_classifier`), written by any world size."""
    weight = whole["weight"]
    if tuple(weight.shape) != (head.num_classes, head.weight.shape[1]):
        raise UserError(f"the checkpoint's classifier is {list(weight.shape)}, this run's "
                        f"[{head.num_classes}, {head.weight.shape[1]}]")
    with torch.no_grad():
        head.weight.copy_(weight[head.start:head.stop])
    if optimizer is not None and whole.get("state"):
        optimizer.state[head.weight] = {
            k: (v[head.start:head.stop].clone().to(head.weight.device)
                if isinstance(v, torch.Tensor) and v.shape == weight.shape else v)
            for k, v in whole["state"].items()}
