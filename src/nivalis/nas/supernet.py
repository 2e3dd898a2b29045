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

Shared-prefix evaluation (`evaluate_archs`): the children of one controller update are scored on the
same minibatch, and children that agree on their first k decisions compute the same activations up
to the end of the k-th residual block (BN on batch statistics of that same batch). The children are
visited in lexicographic order of their per-slot codes, i.e. a depth-first walk of their prefix trie,
keeping one activation per depth: each distinct prefix is computed once, and every child's logits are
exactly those of `evaluate_arch` (tested).

Training: the shared-weight phase samples a new path before every optimisation step (from the
controller or uniformly) and alternates with the controller's phase inside one epoch, so it is not
`nivalis.engine.fit` (one fixed network per call) but the engine's `train_one_epoch` with a
`before_step` hook that sets the path and steps PyTorch's SGDR scheduler (`CosineAnnealingWarmRestarts`)
to the fractional epoch. Under torchrun the supernet trains inside DDP (`engine.wrap_ddp`, unused
candidates allowed); retraining a found architecture goes through `fit` (`nivalis.nas.search.retrain`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from nivalis.engine import autocast_for, get_context, train_one_epoch
from nivalis.errors import UserError
from nivalis.layers.residual import output_norms
from nivalis.nas.operators import make_operator
from nivalis.nas.space import SearchSpace, create_with_slots


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

    def load_backbone(self, path) -> dict:
        """Start from trained backbone weights (`--pretrained`): a torchvision/timm file or a nivalis checkpoint.

        The file is read into the plain backbone by `nivalis.models.weights.create_model` (name maps, shape
        checks, a class layer of another size left fresh); its 3×3 slot weights go to each slot's original
        candidate (conv 3×3, code 0), everything else (stem, shortcuts, 1×1 convolutions, classifier) to the
        shared weights. The other candidates keep their fresh initialisation. Returns the loading report.
        """
        from nivalis.models.weights import create_model

        kwargs = self.space.base_kwargs()
        try:
            plain = create_model(self.space.backbone, pretrained=path, **kwargs)
        except UserError as exc:
            if not any(t in str(exc) for t in ("shape mismatch", "has no tensor", "holds tensors")):
                raise
            built = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k not in ("num_classes", "in_chans"))
            raise UserError(f"{exc}; this search builds {self.space.backbone} with {built or 'the defaults'} and "
                            f"{kwargs['in_chans']} input channel(s): --stem and --width must match the file's "
                            "network") from None
        source = plain.state_dict()
        fresh = set(plain.pretrained_report["reinitialised"])  # a class layer of another size: the supernet's own
        prefixes = [f"{slot.name}." for slot in self.space.slots]
        state = self.net.state_dict()
        for key in state:
            prefix = next((p for p in prefixes if key.startswith(p)), None)
            if key in fresh:
                continue
            if prefix is None:
                state[key] = source[key]
            elif key.startswith(prefix + "candidates.0."):
                state[key] = source[prefix + key[len(prefix + "candidates.0."):]]
        self.net.load_state_dict(state, strict=True)
        eps = {name: m.eps for name, m in plain.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        for name, m in self.net.named_modules():  # the reference's BN eps where the file's network has that BN
            plain_name = name.replace(".candidates.0", "", 1)
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and plain_name in eps:
                m.eps = eps[plain_name]
        return plain.pretrained_report

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
                       sample_arch: Callable[[], list[int]], optimizer: torch.optim.Optimizer, epoch: int,
                       batch_size: int, generator: torch.Generator,
                       scheduler: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts | None = None,
                       model: nn.Module | None = None, precision: str = "fp32",
                       augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                       desc: str = "shared") -> dict[str, float]:
    """One pass over the proxy training images (`engine.train_one_epoch`); a fresh path from `sample_arch()`
    for every step.

    `scheduler` (SGDR) is stepped to the fractional epoch `epoch + step / steps` before every step, as
    SGDR prescribes; without one the learning rate stays. `model` is the supernet as it trains:
    `engine.wrap_ddp(supernet, find_unused_parameters=True)` under torchrun, so DDP averages the
    gradients across ranks; by default the supernet itself. `augment(batch, generator)` transforms each
    training batch (e.g. `random_shift`). Every rank draws the same permutation, augmentation and path
    from the shared `generator` and trains on its share of each batch. Returns `train_loss` and
    `train_accuracy`.
    """
    ctx = get_context()
    order = torch.randperm(len(images), generator=generator)
    steps = max(1, math.ceil(len(images) / batch_size))

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            if len(idx) < 2:  # a batch of one breaks batch norm (only the last batch can be that short)
                continue
            x, y = images[idx], labels[idx]
            if augment is not None:  # the whole batch, so every rank consumes the same random numbers
                x = augment(x, generator)
            if ctx.enabled:
                x, y = x[ctx.rank::ctx.world_size], y[ctx.rank::ctx.world_size]
            yield x, y

    def before_step(step: int) -> None:  # after the batch's augmentation drew from `generator`, as before
        supernet.set_arch(sample_arch())
        if scheduler is not None:
            scheduler.step(epoch + step / steps)

    correct = [0, 0]

    def after_step(out: torch.Tensor, y: torch.Tensor) -> None:
        correct[0] += int((out.argmax(1) == y).sum())
        correct[1] += len(y)

    result = train_one_epoch(model if model is not None else supernet, batches(), optimizer, loss_fn=F.cross_entropy,
                             epoch=epoch, precision=precision, grad_clip=5.0, total=steps, desc=desc,
                             before_step=before_step, after_step=after_step)
    return {**result, "train_accuracy": correct[0] / max(correct[1], 1)}


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


def _segments(supernet: Supernet) -> tuple[list[tuple[nn.Module, int]], Callable[[torch.Tensor], torch.Tensor]] | None:
    """The network as stem, residual blocks, head: [(module, slots up to and including it)] and the head,
    for backbones built as `stem`, `layer1..4` of blocks, `forward_head` or `fc` (the zoo's ResNets and
    IR nets); None for any other layout (then `evaluate_archs` scores child by child)."""
    net = supernet.net
    if not all(hasattr(net, name) for name in ("stem", "layer1", "layer2", "layer3", "layer4")):
        return None
    head = getattr(net, "forward_head", None) or getattr(net, "fc", None)
    if head is None:
        return None
    segments, slots = [], 0

    def count(module: nn.Module) -> int:
        return sum(isinstance(m, MixedOperator) for m in module.modules())

    slots += count(net.stem)
    segments.append((net.stem, slots))
    for name in ("layer1", "layer2", "layer3", "layer4"):
        for block in getattr(net, name).children():
            slots += count(block)
            segments.append((block, slots))
    if slots != len(supernet.mixed):
        return None
    return segments, head


@torch.no_grad()
def evaluate_archs(supernet: Supernet, archs: Sequence[Sequence[int]], images: torch.Tensor, labels: torch.Tensor,
                   *, precision: str = "fp32", shared_prefix: bool = True) -> list[float]:
    """`evaluate_arch` of every arch on the same (images, labels), in the order given, computing each
    distinct prefix once (module docstring). One pass over all images per child (`images` is one reward
    minibatch); `shared_prefix=False`, a run under torchrun or an unknown layout score child by child."""
    split = _segments(supernet) if shared_prefix and not get_context().enabled else None
    if split is None or len(images) < 2:
        return [evaluate_arch(supernet, a, images, labels, precision=precision,
                              batch_size=max(len(images), 1)) for a in archs]
    segments, head = split
    expanded = [tuple(supernet.space.expand(a)) for a in archs]
    order = sorted(range(len(archs)), key=lambda i: expanded[i])
    was_training = supernet.training
    supernet.train()  # batch statistics
    momenta = [(m, m.momentum) for m in supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m, _ in momenta:
        m.momentum = 0.0
    acts: list[torch.Tensor] = []  # acts[j]: output of segment j on the current path
    prev: tuple[int, ...] | None = None
    out = [0.0] * len(archs)
    try:
        for i in order:
            codes = expanded[i]
            keep = 0  # segments whose slots all agree with the previous child's
            if prev is not None:
                while keep < len(segments) and codes[:segments[keep][1]] == prev[:segments[keep][1]]:
                    keep += 1
            del acts[keep:]
            supernet.set_arch(archs[i])
            with autocast_for(precision):
                x = acts[-1] if acts else images
                for module, _ in segments[keep:]:
                    x = module(x)
                    acts.append(x)
                logits = head(x)
            out[i] = float((logits.argmax(1) == labels).float().mean())
            prev = codes
    finally:
        for m, momentum in momenta:
            m.momentum = momentum
        supernet.train(was_training)
    return out


__all__ = ["MixedOperator", "Supernet", "evaluate_arch", "evaluate_archs", "random_shift", "train_shared_epoch"]
