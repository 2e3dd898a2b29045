"""Candidate operators of a residual block's 3×3 slot (NAR, Jiang et al., seed 004 §3.1) and the per-block factories.

A *slot* is one conv → BN → act unit that a residual block builds through its `conv3x3` factory
(`BasicBlock.conv1/conv2`, `Bottleneck.conv2`, the IR block's two 3×3 units). Neural Architecture
Refinement keeps every skip connection of the backbone and chooses, per slot, which operator the unit
uses. Codes follow the seed's Table 1, extended by the two 5×5 operators of its candidate list:

====  ===========================  ======================================================
code  operator                     unit built by `make_operator`
====  ===========================  ======================================================
0     conv 3×3 (the original)      conv k3/s → BN → act (identical to the zoo's `conv3x3_bn`)
1     depthwise-separable 3×3      dw k3/s → BN → ReLU → pw 1×1 → BN → act
2     max-pool 3×3                 max-pool k3/s/p1 → [1×1 projection] → BN → act
3     avg-pool 3×3                 avg-pool k3/s/p1 → [1×1 projection] → BN → act
4     conv 5×5                     conv k5/s → BN → act
5     depthwise-separable 5×5      dw k5/s → BN → ReLU → pw 1×1 → BN → act
====  ===========================  ======================================================

Shapes are kept exactly: every candidate maps (N, C_in, H, W) → (N, C_out, ⌈H/s⌉, ⌈W/s⌉) like the
3×3 convolution it replaces (padding k // 2). A pooling window carries the slot's stride itself
(3×3, stride s, padding 1; max-pool pads with −∞, avg-pool divides by the valid count only). Pooling
cannot change the channel count, so where the slot does (C_in ≠ C_out: `BasicBlock.conv1` at the
start of stages 2-4, the IR block's `conv1`), the pooled map goes through a 1×1 projection
(C_in·C_out weights, a ninth of the 3×3 convolution's) — the only learned weights of a pooling
candidate besides its BN. The pool comes first, so a strided slot projects at the reduced resolution.

Parameter rule (seed §3.1: "we prefer to choose the candidate operators with no more parameters than
the architecture operators"): `allowed_operators` keeps, per slot, the candidates whose unit has at
most the parameters of the original unit (code 0), so conv 5×5 is dropped wherever the slot holds a
conv 3×3, and depthwise-separable 5×5 stays (25·C_in + C_in·C_out < 9·C_in·C_out for C_out ≥ 4).

`ops` length selects the granularity (`OperatorChoice`, which `nivalis.nas.space.build_refined` passes to a
backbone's `conv3x3_for_block` hook): one code per residual block ("block",
ResNet-18-8: every 3×3 slot of block b uses ops[b]) or one code per slot ("layer", ResNet-18-16), in
the order the network applies them. A Bottleneck has one 3×3 slot per block, so both readings coincide.

Vectors one code short (the seed's printing, `complete_ops`). Seed Table 4 prints ResNet-18's
architectures with 7 codes (block granularity, 8 blocks) and 15 codes (layer granularity, 16 slots),
while §4.2.2 says there are 8 and 16 decisions. The rule here: a vector one code short of a
granularity covers that granularity's decisions in network order from the first on, and the **last**
decision (the last residual block, resp. its last 3×3 slot, `layer4.1.conv2` of ResNet-18) keeps
the original conv 3×3, i.e. code 0 is appended. The seed does not say which position it leaves out;
the rule follows from its text and its own figures:

- §3.1 calls max3×3 and avg3×3 "non-parameterized convolution-like" operators. Read with the last
  slot appended, both max3×3 codes of the ResNet-18-16 row (printed positions 3 and 14) fall on
  slots whose input and output widths agree (`layer1.1.conv2`, `layer4.1.conv1`), where a pool needs
  no weights. Read with the first slot prepended instead, position 3 falls on `layer2.0.conv1`
  (64 → 128, stride 2), where a pool cannot be parameter-free (it needs the 1×1 projection above).
- Table 4's own counts agree better: at 224×224 with 1000 classes, appending gives the ResNet-18-16
  row 9.00·10⁶ parameters (printed 0.92·10⁷) against 8.71·10⁶ when prepending; the MACs move the same
  way (`tests/nas/test_seed_tables.py` holds both readings' figures). The ResNet-18-8 row's one change
  lands in stage 1 under either reading, at the same cost.

Where the rule is applied, `complete_ops` returns a note saying so; `refine retrain` puts it in its
JSON (`arch_note`) and `refine space` states the rule (`short_vector_rule`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.layers.conv_bn_act import ConvBnAct, make_activation
from nivalis.layers.depthwise_separable import DepthwiseSeparableConv
from nivalis.layers.residual import output_norms

#: code → short name (seed 004 Table 1 numbering; 4 and 5 are the extended set)
OPERATOR_NAMES: dict[int, str] = {0: "conv3x3", 1: "sep3x3", 2: "max3x3", 3: "avg3x3", 4: "conv5x5", 5: "sep5x5"}
#: the seed's candidate set for a backbone made of conv 3×3 (§3.1, Table 1)
SEED_CANDIDATES: tuple[int, ...] = (0, 1, 2, 3)
#: every operator this module can build
ALL_CANDIDATES: tuple[int, ...] = tuple(OPERATOR_NAMES)


def check_code(code: int) -> int:
    if int(code) != code or int(code) not in OPERATOR_NAMES:
        raise UserError(f"unknown operator code {code!r} (0 conv3x3, 1 sep3x3, 2 max3x3, 3 avg3x3, 4 conv5x5, "
                        "5 sep5x5)")
    return int(code)


class SeparableOperator(DepthwiseSeparableConv):
    """Depthwise-separable candidate; names its output BN so a network can zero-initialise it."""

    def output_norms(self) -> list[nn.BatchNorm2d]:
        return [self.conv_pw[1]]


def _pool_operator(kind: str, in_chs: int, out_chs: int, stride: int, act: str | None) -> nn.Sequential:
    pool = (nn.MaxPool2d(3, stride=stride, padding=1) if kind == "max"
            else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
    body = pool if in_chs == out_chs else nn.Sequential(pool, nn.Conv2d(in_chs, out_chs, 1, bias=False))
    return nn.Sequential(body, nn.BatchNorm2d(out_chs), make_activation(act))


def make_operator(code: int, in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1,
                  act: str | None = "relu") -> nn.Module:
    """The slot unit of operator `code` (see the module table); the same signature as `conv3x3_bn`.

    `groups` applies to the full convolutions (0, 4) only: a grouped 3×3 (ResNeXt) keeps its grouping
    when it stays, the separable and pooling candidates ignore it.
    """
    code = check_code(code)
    if code in (0, 4):
        return ConvBnAct(in_chs, out_chs, 3 if code == 0 else 5, stride=stride, groups=groups, act=act)
    if code in (1, 5):
        return SeparableOperator(in_chs, out_chs, 3 if code == 1 else 5, stride=stride, act="relu", pw_act=act)
    return _pool_operator("max" if code == 2 else "avg", in_chs, out_chs, stride, act)


@functools.lru_cache(maxsize=4096)
def operator_params(code: int, in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1) -> int:
    """Parameters of the unit `make_operator(code, ...)` (built on the meta device: no memory)."""
    with torch.device("meta"):
        unit = make_operator(code, in_chs, out_chs, stride=stride, groups=groups)
    return sum(p.numel() for p in unit.parameters())


def allowed_operators(in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1,
                      candidates: Sequence[int] = SEED_CANDIDATES, param_rule: bool = True) -> list[int]:
    """Candidates of one slot; with `param_rule`, only those with ≤ the original unit's parameters."""
    codes = sorted({check_code(c) for c in candidates} | {0})
    if not param_rule:
        return codes
    limit = operator_params(0, in_chs, out_chs, stride=stride, groups=groups)
    return [c for c in codes if operator_params(c, in_chs, out_chs, stride=stride, groups=groups) <= limit]


#: the rule for a vector one code short (module docstring), as `refine space` states it
SHORT_VECTOR_RULE = ("a vector one code short of a granularity (seed 004 Table 4 prints ResNet-18 with 7 and 15 "
                     "codes for 8 blocks and 16 slots) covers the decisions from the first on; the last residual "
                     "block, resp. the last 3x3 slot, keeps conv3x3 (code 0 appended)")


def short_vector_note(given: int, granularity: str) -> str:
    unit = "residual blocks" if granularity == "block" else "3x3 slots"
    last = "block" if granularity == "block" else "slot"
    return (f"{given} codes for {given + 1} {unit} (seed 004 Table 4 printing): the last {last} keeps conv3x3, "
            "code 0 appended")


def complete_ops(ops: Sequence[int], slots_per_block: Sequence[int]) -> tuple[list[int], str, str | None]:
    """(codes, granularity, note): `ops` with one code per decision of the granularity `len(ops)` selects.

    `slots_per_block[b]` is the number of 3×3 slots of residual block b. `len(ops)` equal to the
    number of blocks means one code per block; equal to the number of slots, one code per slot; one
    short of either, the seed's printing (module docstring): code 0 is appended and `note` says so
    (None otherwise). An exact length is read first.
    """
    ops = [check_code(c) for c in ops]
    n_blocks, n_slots = len(slots_per_block), int(sum(slots_per_block))
    if len(ops) == n_blocks:
        return ops, "block", None
    if len(ops) == n_slots:
        return ops, "layer", None
    if ops and len(ops) == n_blocks - 1:
        return ops + [0], "block", short_vector_note(len(ops), "block")
    if ops and len(ops) == n_slots - 1:
        return ops + [0], "layer", short_vector_note(len(ops), "layer")
    raise UserError(f"ops has {len(ops)} codes; this network takes {n_blocks} (one per residual block) "
                    f"or {n_slots} (one per 3×3 slot), or one fewer (the seed's printing: the last keeps conv3x3)")


def expand_ops(ops: Sequence[int], slots_per_block: Sequence[int]) -> tuple[list[int], str]:
    """Per-slot codes and the granularity ("block" or "layer") that `len(ops)` selects (`complete_ops`)."""
    ops, granularity, _ = complete_ops(ops, slots_per_block)
    if granularity == "block":
        return [c for c, k in zip(ops, slots_per_block) for _ in range(k)], "block"
    return ops, "layer"


class OperatorChoice:
    """Operator codes as a backbone's `conv3x3_for_block` hook (`nivalis.nas.space.build_refined`).

    A residual network builds its blocks in order and asks `for_block(b)` for the factory of block b;
    every call of that factory builds the next slot with its code. `finish()` checks that `ops` had
    exactly one code per block or per slot. A slot whose code is not allowed there by the parameter rule
    is still built (the rule restricts the search, not what a user may ask for).
    """

    def __init__(self, ops: Sequence[int], num_blocks: int):
        self.ops = [check_code(c) for c in ops]
        self.num_blocks = num_blocks
        if self.ops and len(self.ops) == num_blocks - 1:  # the seed's printing: the last block keeps conv3x3
            self.ops.append(0)
        self.by_block = len(self.ops) == num_blocks
        self.slots_per_block: list[int] = [0] * num_blocks
        self.codes: list[int] = []

    def for_block(self, block_index: int):
        def factory(in_chs: int, out_chs: int, *, stride: int = 1, groups: int = 1, act: str | None = "relu"):
            if self.by_block:
                code = self.ops[block_index]
            elif len(self.codes) < len(self.ops):
                code = self.ops[len(self.codes)]
            else:
                code = 0  # one code short: the last slot keeps conv3x3; fewer: finish() reports the counts
            self.slots_per_block[block_index] += 1
            self.codes.append(code)
            return make_operator(code, in_chs, out_chs, stride=stride, groups=groups, act=act)
        return factory

    def finish(self) -> None:
        expand_ops(self.ops, self.slots_per_block)  # raises on a length that is neither granularity


__all__ = ["ALL_CANDIDATES", "OPERATOR_NAMES", "SEED_CANDIDATES", "SHORT_VECTOR_RULE", "OperatorChoice",
           "SeparableOperator", "allowed_operators", "check_code", "complete_ops", "expand_ops", "make_operator",
           "operator_params", "output_norms", "short_vector_note"]
