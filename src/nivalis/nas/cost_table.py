"""A backbone's NAR search space as a table: its decisions, allowed operators and each choice's cost change.

`space_costs` is what `nivalis refine space` prints: per decision, the MACs (and FLOPs = 2 × MACs) that
each allowed operator saves against conv 3×3 there, the rest of the network kept original; with an
architecture, also its total MACs and parameters (any operator code may be counted: the parameter rule
restricts the search, not what is measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nivalis.errors import UserError
from nivalis.nas.config import NARConfig, model_kwargs_for
from nivalis.nas.operators import OPERATOR_NAMES, SHORT_VECTOR_RULE
from nivalis.nas.space import SearchSpace
from nivalis.profile.counts import parse_input_shape


def parse_arch(text: str) -> list[int]:
    """'1,0,0,0,0,0,0' (or '[1, 0, ...]') → operator codes; anything else is a user error."""
    try:
        return [int(t) for t in text.replace(" ", "").strip("[]").split(",") if t]
    except ValueError:
        raise UserError(f"bad --arch {text!r}: expected codes such as 1,0,0,0,0,0,0") from None


def space_costs(backbone: str = "resnet18", granularity: str = "block",
                input_shape: str | Sequence[int] = (3, 32, 32), *,
                candidates: str | Sequence[int] = "0,1,2,3", param_rule: bool = True, width: float = 1.0,
                stem: str = "auto", num_classes: int = 10, arch: str | Sequence[int] | None = None) -> dict[str, Any]:
    """`SearchSpace.describe`, the original's costs and one row per decision: `{decision, slots, choices,
    macs_change, flops_change}` (per operator name, against the original); with `arch` (codes, or their
    text), `arch`: `{given, arch, operators, macs, flops, params, note}`. `input_shape`: CxHxW, or its text."""
    shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else tuple(input_shape)
    cfg = NARConfig(backbone=backbone, granularity=granularity, candidates=candidates, width=width, stem=stem)
    kwargs = model_kwargs_for(cfg, shape)
    sp = SearchSpace(backbone, granularity, input_shape=shape, num_classes=num_classes, model_kwargs=kwargs,
                     candidates=cfg.candidates, param_rule=param_rule)
    base = sp.cost(sp.baseline(), "flops")
    rows = []
    for d, (slots, choices) in enumerate(zip(sp.decisions, sp.choices)):
        flops = {}
        for code in choices:
            alt = sp.baseline()
            alt[d] = code
            flops[OPERATOR_NAMES[code]] = int(sp.cost(alt, "flops") - base)
        rows.append({"decision": d, "slots": [sp.slots[i].name for i in slots], "choices": choices,
                     "macs_change": {k: v // 2 for k, v in flops.items()}, "flops_change": flops})
    result = {**sp.describe(), "num_classes": num_classes, "baseline_macs": int(base) // 2,
              "baseline_flops": int(base), "baseline_params": int(sp.cost(sp.baseline(), "params")),
              "short_vector_rule": SHORT_VECTOR_RULE, "rows": rows}
    if arch is not None:
        given = parse_arch(arch) if isinstance(arch, str) else [int(c) for c in arch]
        full, note = sp.complete(given)
        free = SearchSpace(backbone, granularity, input_shape=shape, num_classes=num_classes, model_kwargs=kwargs,
                           candidates=range(len(OPERATOR_NAMES)), param_rule=False)
        total = int(free.cost(full, "flops"))
        result["arch"] = {"given": given, "arch": full, "operators": [OPERATOR_NAMES[c] for c in full],
                          "macs": total // 2, "flops": total, "params": int(free.cost(full, "params")), "note": note}
    return result


def space_costs_text(result: dict[str, Any], input_label: str) -> str:
    """`space_costs` as `refine space` prints it: one line per decision, cost changes as shares of the original."""
    base = result["baseline_flops"]
    lines = [f"{result['backbone']} ({result['granularity']}) at {input_label}: {result['decisions']} decisions over "
             f"{result['slots']} slots, {result['size']:,} architectures; original {result['baseline_macs']:,} MACs"]
    for r in result["rows"]:
        change = ", ".join(f"{k} {v / base:+.1%}" for k, v in r["flops_change"].items() if k != "conv3x3")
        lines.append(f"  {r['decision']:>3} {'+'.join(r['slots']):<34} {change}")
    if "arch" in result:
        a = result["arch"]
        lines.append(f"  arch {a['arch']}: {a['macs']:,} MACs, {a['params']:,} params"
                     + (f" ({a['note']})" if a["note"] else ""))
    return "\n".join(lines)


__all__ = ["parse_arch", "space_costs", "space_costs_text"]
