"""NAR's weight-sharing supernet (seed 004 §3.2, after ENAS): every candidate of every slot, one path at a time.

Each 3×3 slot of the backbone becomes a `MixedOperator` holding all its candidate units (each with
its own weights and BN); the stem, shortcuts, 1×1 convolutions and classifier are shared by every
architecture. `set_arch(a)` activates one candidate per slot, so a forward pass costs what the child
network costs and only the active candidates receive gradients. `child(a)` copies the active weights
into the standalone `build_refined(backbone, a)`; both compute the same function (tested).

BN statistics: candidates on a slot see different inputs depending on the path upstream, so running
averages mix architectures. The supernet is therefore always evaluated with batch statistics
(`evaluate_arch` runs BN in training mode over evaluation batches of ≥ 32 images, ENAS's choice for
its reward), and only a retrained child uses running statistics.

Why this is not `nivalis.engine.fit`: the shared-weight phase samples a new path before every
optimisation step (from the controller or uniformly) and alternates with the controller's phase inside
one epoch, with an SGDR schedule over both; `fit` trains one fixed network per call. The step loop in
`train_shared_epoch` is small and uses the engine's pieces (distributed context, autocast, seeding);
retraining a found architecture goes through `fit` (`nivalis.nas.search.retrain`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from nivalis.engine import autocast_for, get_context
from nivalis.errors import UserError
from nivalis.layers.residual import output_norms
from nivalis.nas.operators import make_operator
from nivalis.nas.space import SearchSpace, create_with_slots
from nivalis.progress import bar


class MixedOperator(nn.Module):
    """All candidate units of one slot; `forward` runs only the active one.

    Args:
        codes: operator codes of the candidates (index 0 is the original operator).
        in_chs, out_chs, stride, groups, act: the slot's geometry, as passed to `make_operator`.
    """

    def __init__(self, codes: Sequence[int], in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1,
                 act: str | None = "relu"):
        super().__init__()
        self.codes = list(codes)
        self.candidates = nn.ModuleList(make_operator(c, in_chs, out_chs, stride=stride, groups=groups, act=act)
                                        for c in self.codes)
        self.active = 0

    def select(self, code: int) -> None:
        self.active = self.codes.index(code)

    def output_norms(self) -> list[nn.BatchNorm2d]:
        return [bn for unit in self.candidates for bn in output_norms(unit)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.candidates[self.active](x)


class Supernet(nn.Module):
    """The backbone of `space` with a `MixedOperator` on every slot.

    Shapes: (N, C, H, W) of `space.input_shape` → (N, num_classes) for the active architecture.
    """

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space
        slots = iter(space.slots)

        def factory(in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1, act: str | None = "relu"):
            slot = next(slots)
            if (slot.in_chs, slot.out_chs, slot.stride) != (in_chs, out_chs, stride):
                raise RuntimeError(f"slot {slot.name} changed shape between discovery and supernet")
            return MixedOperator(slot.candidates, in_chs, out_chs, stride=stride, groups=groups, act=act)

        self.net = create_with_slots(space.backbone, lambda block: factory, **space.base_kwargs())
        self.mixed: list[MixedOperator] = [m for m in self.net.modules() if isinstance(m, MixedOperator)]
        if len(self.mixed) != len(space.slots):
            raise RuntimeError("supernet slots do not match the search space")
        self.arch = space.baseline()

    def set_arch(self, arch: Sequence[int]) -> None:
        for mixed, code in zip(self.mixed, self.space.expand(arch)):
            mixed.select(code)
        self.arch = list(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def child(self, arch: Sequence[int]) -> nn.Module:
        """The standalone network of `arch` carrying the supernet's shared weights."""
        self.set_arch(arch)
        model = self.space.build(arch)
        state = {}
        prefixes = {f"{slot.name}.": mixed for slot, mixed in zip(self.space.slots, self.mixed)}
        for key, value in self.net.state_dict().items():
            for prefix, mixed in prefixes.items():
                if key.startswith(prefix):
                    rest = key[len(prefix):]
                    head = f"candidates.{mixed.active}."
                    if rest.startswith(head):
                        state[prefix + rest[len(head):]] = value
                    break
            else:
                state[key] = value
        model.load_state_dict(state, strict=True)
        return model


def sgdr_lr(epoch: float, *, lr_max: float, lr_min: float, t0: int, t_mult: int) -> float:
    """SGDR (Loshchilov & Hutter 2017) learning rate at fractional `epoch`: cosine cycles of length t0·t_mult^k.

    .. math::
        \\eta_t = \\eta_{min} + \\tfrac12(\\eta_{max} - \\eta_{min})\\big(1 + \\cos(\\pi\\, T_{cur} / T_i)\\big)
    """
    t_i, start = t0, 0.0
    while epoch >= start + t_i:
        start += t_i
        t_i *= t_mult
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * (epoch - start) / t_i))


def _allreduce_grads(model: nn.Module, world_size: int) -> None:
    # every rank trained the same path (same sampler seed), so the same parameters carry gradients
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world_size


def random_shift(images: torch.Tensor, generator: torch.Generator, pad: int = 4,
                 flip: bool = False) -> torch.Tensor:
    """Translate each image by up to `pad` pixels (zero padding, i.e. the mean of z-scored data), as in
    ENAS's child training (pad 4 + random crop), optionally mirrored left-right with probability ½."""
    n, _, h, w = images.shape
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    mirror = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    padded = F.pad(images, (pad, pad, pad, pad))
    out = torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])
    return torch.where(mirror[:, None, None, None], out.flip(-1), out)


def train_shared_epoch(supernet: Supernet, images: torch.Tensor, labels: torch.Tensor, *,
                       sample_arch: Callable[[], list[int]], optimizer: torch.optim.Optimizer,
                       lr_at: Callable[[float], float], epoch: int, batch_size: int, generator: torch.Generator,
                       precision: str = "fp32", augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
                       | None = None, desc: str = "shared") -> dict[str, float]:
    """One pass over the proxy training images; a fresh path from `sample_arch()` for every step.

    `augment(batch, generator)` transforms each training batch (e.g. `random_shift`). Under torchrun
    every rank draws the same permutation, augmentation and path from the shared `generator` and
    trains on its share of each batch; gradients are averaged across ranks before the step.
    """
    ctx = get_context()
    supernet.train()
    order = torch.randperm(len(images), generator=generator)
    steps = max(1, math.ceil(len(images) / batch_size))
    progress = bar(steps, desc=desc)
    loss_sum, correct, seen = 0.0, 0, 0
    for step in range(steps):
        idx = order[step * batch_size:(step + 1) * batch_size]
        if len(idx) < 2:  # a batch of one breaks batch norm
            continue
        x, y = images[idx], labels[idx]
        if augment is not None:  # the whole batch, so every rank consumes the same random numbers
            x = augment(x, generator)
        if ctx.enabled:
            x, y = x[ctx.rank::ctx.world_size], y[ctx.rank::ctx.world_size]
        arch = sample_arch()
        supernet.set_arch(arch)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch + step / steps)
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(precision):
            out = supernet(x)
            loss = F.cross_entropy(out, y)
        value = float(loss.detach())
        if not math.isfinite(value):
            progress.close()
            raise UserError(f"supernet training diverged at epoch {epoch + 1} (loss {value}); lower --lr")
        loss.backward()
        if ctx.enabled:
            _allreduce_grads(supernet, ctx.world_size)
        nn.utils.clip_grad_norm_([p for p in supernet.parameters() if p.grad is not None], 5.0)
        optimizer.step()
        loss_sum += value * len(y)
        correct += int((out.argmax(1) == y).sum())
        seen += len(y)
        progress.update(1)
        progress.set_postfix(loss=f"{loss_sum / max(seen, 1):.3f}")
    progress.close()
    return {"train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1)}


@torch.no_grad()
def evaluate_arch(supernet: Supernet, arch: Sequence[int], images: torch.Tensor, labels: torch.Tensor, *,
                  batch_size: int = 256, precision: str = "fp32") -> float:
    """Accuracy of `arch` with the shared weights on (images, labels), BN on batch statistics.

    Under torchrun the images are split across ranks and the counts summed, so every rank gets the
    same number.
    """
    ctx = get_context()
    supernet.set_arch(arch)
    was_training = supernet.training
    supernet.train()  # batch statistics (see module docstring)
    n = len(images)
    # equal-sized chunks of at least 32 images keep the batch statistics meaningful
    chunks = max(1, round(n / batch_size)) if n >= 64 else 1
    correct = torch.zeros(2, dtype=torch.float64)
    momenta = [(m, m.momentum) for m in supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m, _ in momenta:
        m.momentum = 0.0  # evaluation must not move the running averages
    try:
        for part in torch.tensor_split(torch.arange(n), chunks):
            if ctx.enabled:
                part = part[ctx.rank::ctx.world_size]
            if len(part) == 0:
                continue
            with autocast_for(precision):
                out = supernet(images[part])
            correct[0] += float((out.argmax(1) == labels[part]).sum())
            correct[1] += len(part)
    finally:
        for m, momentum in momenta:
            m.momentum = momentum
        supernet.train(was_training)
    if ctx.enabled:
        dist.all_reduce(correct)
    return float(correct[0] / correct[1].clamp_min(1))


__all__ = ["MixedOperator", "Supernet", "evaluate_arch", "random_shift", "sgdr_lr", "train_shared_epoch"]
