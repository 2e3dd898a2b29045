"""NAR's search space (Jiang et al., seed 004 §3.1): one operator per residual block or per 3×3 slot, skips fixed.

A backbone of the zoo is searchable when it takes a `conv3x3_for_block` hook that gives each residual
block the factory of its 3×3 units (the zoo's ResNets and ArcFace's LResNet-E-IR). `SearchSpace` discovers those
slots by building the backbone once on the meta device with a recording factory, groups them into
*decisions* — one per residual block (granularity "block", ResNet-18-8) or one per slot ("layer",
ResNet-18-16) — and gives each decision the candidates the parameter rule allows at every slot it
controls (operators in `nivalis.nas.operators`). An architecture is the list of operator codes, one
per decision; all zeros is the backbone itself, and `build_refined(backbone, arch, **model_kwargs)`
builds it (`len(arch)` tells the granularity) through the backbone's `conv3x3_for_block` hook.

Costs of an architecture come from per-slot lookup tables measured once:

.. math::
    \\mathrm{FLOPs}(a) = \\mathrm{FLOPs}(0) + \\sum_{s} \\big[F_s(a_s) - F_s(0)\\big]

where F_s(c) counts operator c at slot s on its real input shape (likewise parameters and, on
request, CPU latency in ms). The FLOPs and parameter tables are exact: they equal `nivalis.profile.count`
of the built model (tests check it).

FLOPs follow PyTorch's counter, 2 per multiply-add; the seed's tables count multiply-adds (its
ResNet-18 "FLOPS" of 1.76·10⁹ at 224×224 is the network's MAC count). `cost(arch, "macs")` is
FLOPs / 2, exact because every operation the counter counts (convolution, matrix product) is made of
multiply-adds; the search and retrain reports give both (`macs`, `flops`).

An architecture one code short of `num_decisions` is the seed's printing of Table 4 (7 codes for
ResNet-18's 8 blocks, 15 for its 16 slots): `complete` appends code 0 for the last decision and
returns a note (the rule and its grounds are in `nivalis.nas.operators`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from nivalis.errors import UserError
from nivalis.layers.residual import ConvFactory, conv3x3_bn
from nivalis.models import create_model, list_models
from nivalis.nas.operators import (
    ALL_CANDIDATES,
    OPERATOR_NAMES,
    SEED_CANDIDATES,
    OperatorChoice,
    allowed_operators,
    check_code,
    complete_ops,
    make_operator,
    short_vector_note,
)

GRANULARITIES = ("block", "layer")


@functools.lru_cache(maxsize=4096)
def _unit_counts(code: int, in_chs: int, out_chs: int, stride: int, groups: int, act: str | None,
                 input_hw: tuple[int, int]) -> tuple[int, int]:
    """(params, FLOPs at batch 1) of one candidate unit on its input, counted on the meta device."""
    with torch.device("meta"):
        unit = make_operator(code, in_chs, out_chs, stride=stride, groups=groups, act=act)
    unit.eval()
    # forward outside the device context: its per-call interception costs more than the counting
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        unit(torch.zeros(1, in_chs, *input_hw, device="meta"))
    return sum(p.numel() for p in unit.parameters()), int(counter.get_total_flops())

__all__ = ["GRANULARITIES", "OPERATOR_NAMES", "SEED_CANDIDATES", "ALL_CANDIDATES", "SearchSpace", "Slot",
           "build_refined", "create_with_slots", "make_operator", "parse_candidates"]


def create_with_slots(backbone: str, conv3x3_for_block: Callable[[int], ConvFactory], **model_kwargs) -> nn.Module:
    """`create_model(backbone, conv3x3_for_block=..., **model_kwargs)`; a backbone without the hook is a UserError."""
    try:
        return create_model(backbone, conv3x3_for_block=conv3x3_for_block, **model_kwargs)
    except UserError:
        raise
    except (TypeError, ValueError) as exc:
        if "conv3x3_for_block" in str(exc):
            raise UserError(f"backbone {backbone!r} has no searchable residual 3×3 slots "
                            "(use a ResNet or LResNet-E-IR of the zoo)") from None
        raise UserError(f"cannot build {backbone!r} with {model_kwargs}: {exc}") from None


def build_refined(backbone: str, ops: Sequence[int], **model_kwargs) -> nn.Module:
    """The zoo `backbone` with NAR operator `ops` in its 3×3 slots, freshly initialised.

    `ops` holds one code per residual block or one per 3×3 slot, or one code fewer (the seed's printing:
    the last block or slot keeps conv 3×3; `nivalis.nas.operators.complete_ops`); all zeros builds the
    backbone itself with the same initialisation as `create_model`. A length that fits none of these,
    or an unknown code, is a UserError.
    """
    slots_per_block: dict[int, int] = {}

    def count(block: int) -> ConvFactory:
        slots_per_block.setdefault(block, 0)

        def factory(*args, **kwargs):
            slots_per_block[block] += 1
            return conv3x3_bn(*args, **kwargs)
        return factory

    with torch.device("meta"):  # one cheap pass to learn the backbone's blocks and slots
        create_with_slots(backbone, count, **model_kwargs)
    ops, _, _ = complete_ops(ops, [slots_per_block[b] for b in sorted(slots_per_block)])
    choice = OperatorChoice(ops, len(slots_per_block))
    model = create_with_slots(backbone, choice.for_block, **model_kwargs)
    choice.finish()
    return model


@dataclass(frozen=True)
class Slot:
    """One 3×3 conv → BN → act unit of the backbone, in the order the network applies them."""

    index: int
    block: int
    name: str  # module path in the backbone, e.g. "layer2.0.conv1"
    in_chs: int
    out_chs: int
    stride: int
    groups: int
    act: str | None
    input_hw: tuple[int, int]
    candidates: tuple[int, ...]  # allowed codes at this slot


def parse_candidates(text: str | Sequence[int]) -> tuple[int, ...]:
    """'0,1,2,3' → (0, 1, 2, 3); code 0 (the original operator) is always included."""
    if isinstance(text, str):
        try:
            codes = [int(t) for t in text.replace(" ", "").split(",") if t]
        except ValueError:
            raise UserError(f"bad candidate list {text!r}: expected codes such as 0,1,2,3") from None
    else:
        codes = list(text)
    return tuple(sorted({check_code(c) for c in codes} | {0}))


class SearchSpace:
    """The operator search space of one backbone at one input shape.

    Args:
        backbone: registered zoo name (resnet18, resnet34, resnet50, lresnet50e_ir, ...).
        granularity: "block" (one decision per residual block) or "layer" (one per 3×3 slot).
        input_shape: (C, H, W) of the data; C is passed as `in_chans`.
        num_classes: classifier outputs.
        model_kwargs: further keywords of the backbone (`stem="cifar"`, `width_mult=0.25`, `input_size=...`).
        candidates: operator codes to consider (default: the seed's 0-3).
        param_rule: keep only candidates with ≤ the original unit's parameters at every slot (seed §3.1).
    """

    def __init__(self, backbone: str, granularity: str = "block", *, input_shape: Sequence[int] = (3, 32, 32),
                 num_classes: int = 10, model_kwargs: dict[str, Any] | None = None,
                 candidates: Sequence[int] = SEED_CANDIDATES, param_rule: bool = True):
        if granularity not in GRANULARITIES:
            raise UserError(f"unknown granularity {granularity!r} (block or layer)")
        if backbone not in list_models():
            create_model(backbone)  # raises the registry's UserError with suggestions
        self.backbone = backbone
        self.granularity = granularity
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes = int(num_classes)
        self.model_kwargs = dict(model_kwargs or {})
        for reserved in ("ops", "conv3x3_for_block", "num_classes", "in_chans"):
            if reserved in self.model_kwargs:
                raise UserError(f"model_kwargs may not set {reserved!r}: the search space sets it")
        self.candidates = parse_candidates(candidates)
        self.param_rule = bool(param_rule)
        self.slots = self._discover()
        blocks = sorted({s.block for s in self.slots})
        self.slots_per_block = [sum(1 for s in self.slots if s.block == b) for b in blocks]
        if granularity == "block":
            self.decisions = [[s.index for s in self.slots if s.block == b] for b in blocks]
        else:
            self.decisions = [[s.index] for s in self.slots]
        self.choices = [self._common([self.slots[i].candidates for i in d]) for d in self.decisions]
        self._tables: dict[str, list[dict[int, float]]] = {}
        self._base: dict[str, float] = {}
        self._measure_counts()

    # --- discovery --------------------------------------------------------------------------------
    def base_kwargs(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "in_chans": self.input_shape[0], **self.model_kwargs}

    def _discover(self) -> list[Slot]:
        records: list[tuple[nn.Module, dict[str, Any]]] = []

        def recorder(in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1, act: str | None = "relu"):
            unit = conv3x3_bn(in_chs, out_chs, stride=stride, groups=groups, act=act)
            records.append((unit, {"in_chs": in_chs, "out_chs": out_chs, "stride": stride, "groups": groups,
                                   "act": act}))
            return unit

        with torch.device("meta"):
            model = create_with_slots(self.backbone, lambda block: recorder, **self.base_kwargs())
        if not records:
            raise UserError(f"backbone {self.backbone!r} has no searchable residual 3×3 slots")
        order = {id(u): i for i, (u, _) in enumerate(records)}
        names: dict[int, str] = {}
        block_of: dict[int, int] = {}
        block = -1
        for mod_name, module in model.named_modules():
            kids = [(n, c) for n, c in module.named_children() if id(c) in order]
            if kids:
                block += 1
                for n, c in kids:
                    names[order[id(c)]] = f"{mod_name}.{n}" if mod_name else n
                    block_of[order[id(c)]] = block
        shapes: dict[int, tuple[int, int]] = {}
        hooks = [u.register_forward_pre_hook(lambda m, a, i=i: shapes.__setitem__(i, tuple(a[0].shape[-2:])))
                 for i, (u, _) in enumerate(records)]
        try:
            model.eval()
            with torch.no_grad():
                model(torch.zeros(1, *self.input_shape, device="meta"))
        except RuntimeError as exc:
            shape = "x".join(map(str, self.input_shape))
            raise UserError(f"backbone {self.backbone!r} cannot take {shape} inputs: "
                            f"{str(exc).splitlines()[0][:140]}") from None
        finally:
            for h in hooks:
                h.remove()
        slots = []
        for i, (_, info) in enumerate(records):
            allowed = allowed_operators(info["in_chs"], info["out_chs"], stride=info["stride"], groups=info["groups"],
                                        candidates=self.candidates, param_rule=self.param_rule)
            slots.append(Slot(index=i, block=block_of[i], name=names[i], input_hw=shapes[i],
                              candidates=tuple(allowed), **info))
        return slots

    @staticmethod
    def _common(sets: list[tuple[int, ...]]) -> list[int]:
        common = set(sets[0])
        for s in sets[1:]:
            common &= set(s)
        return sorted(common)

    # --- architectures ----------------------------------------------------------------------------
    @property
    def num_decisions(self) -> int:
        return len(self.decisions)

    def baseline(self) -> list[int]:
        return [0] * self.num_decisions

    def complete(self, arch: Sequence[int]) -> tuple[list[int], str | None]:
        """(arch with one code per decision, note): one code short is the seed's printing, code 0 appended
        for the last decision, and `note` says so (None for a full vector); other lengths are UserErrors."""
        arch = [check_code(c) for c in arch]
        if arch and len(arch) == self.num_decisions - 1:
            return arch + [0], short_vector_note(len(arch), self.granularity)
        if len(arch) != self.num_decisions:
            raise UserError(f"architecture has {len(arch)} codes; {self.backbone} at {self.granularity} "
                            f"granularity takes {self.num_decisions} (or {self.num_decisions - 1}, the seed's "
                            "printing: the last keeps conv3x3)")
        return arch, None

    def check(self, arch: Sequence[int]) -> list[int]:
        """Validate an architecture vector of this space (length, codes allowed at each decision);
        one code short is completed by `complete`."""
        arch, _ = self.complete(arch)
        for d, (code, allowed) in enumerate(zip(arch, self.choices)):
            if code not in allowed:
                raise UserError(f"operator {code} ({OPERATOR_NAMES[code]}) is not a candidate at position {d} "
                                f"(allowed: {allowed})")
        return arch

    def expand(self, arch: Sequence[int]) -> list[int]:
        """Per-slot operator codes of an architecture."""
        arch = self.check(arch)
        codes = [0] * len(self.slots)
        for code, slots in zip(arch, self.decisions):
            for s in slots:
                codes[s] = code
        return codes

    def build(self, arch: Sequence[int] | None = None) -> nn.Module:
        """The standalone network of `arch` (None → the backbone), freshly initialised."""
        arch = self.baseline() if arch is None else self.check(arch)
        return build_refined(self.backbone, list(arch), **self.base_kwargs())

    def random_arch(self, generator: torch.Generator | None = None) -> list[int]:
        """A uniformly drawn architecture (each decision uniform over its candidates)."""
        return [c[int(torch.randint(len(c), (1,), generator=generator))] for c in self.choices]

    def size(self) -> int:
        n = 1
        for c in self.choices:
            n *= len(c)
        return n

    # --- costs ------------------------------------------------------------------------------------
    @staticmethod
    def _unit_counts(slot: Slot, code: int) -> tuple[int, int]:
        return _unit_counts(code, slot.in_chs, slot.out_chs, slot.stride, slot.groups, slot.act, slot.input_hw)

    def _measure_counts(self) -> None:
        with torch.device("meta"):
            model = self.build()
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *self.input_shape, device="meta"))
        self._base["params"] = float(sum(p.numel() for p in model.parameters()))
        self._base["flops"] = float(counter.get_total_flops())
        params, flops = [], []
        for slot in self.slots:
            p_row, f_row = {}, {}
            for code in slot.candidates:
                p_row[code], f_row[code] = self._unit_counts(slot, code)
            params.append(p_row)
            flops.append(f_row)
        self._tables["params"], self._tables["flops"] = params, flops

    def measure_latency(self, runs: int = 20) -> None:
        """Fill the latency table: each candidate unit timed alone at its slot's input (CPU, batch 1)."""
        from nivalis.profile import latency_ms

        if "latency_ms" in self._tables:
            return
        self._base["latency_ms"] = latency_ms(self.build(), self.input_shape, runs=runs)
        table = []
        for slot in self.slots:
            row = {}
            for code in slot.candidates:
                unit = make_operator(code, slot.in_chs, slot.out_chs, stride=slot.stride, groups=slot.groups,
                                     act=slot.act)
                row[code] = latency_ms(unit, (slot.in_chs, *slot.input_hw), runs=runs)
            table.append(row)
        self._tables["latency_ms"] = table

    def cost(self, arch: Sequence[int], metric: str = "flops") -> float:
        """`flops`, `macs` (FLOPs / 2), `params` or `latency_ms` of an architecture from the lookup tables."""
        if metric == "macs":
            return self.cost(arch, "flops") / 2
        if metric == "latency_ms":
            self.measure_latency()
        if metric not in self._tables:
            raise UserError(f"unknown cost {metric!r} (flops, macs, params, latency_ms)")
        table = self._tables[metric]
        total = self._base[metric]
        for slot, code in zip(self.slots, self.expand(arch)):
            total += table[slot.index][code] - table[slot.index][0]
        return total

    def describe(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "granularity": self.granularity, "decisions": self.num_decisions,
                "slots": len(self.slots), "choices": self.choices, "size": self.size(),
                "candidates": list(self.candidates), "param_rule": self.param_rule,
                "model_kwargs": self.model_kwargs, "input_shape": list(self.input_shape)}
