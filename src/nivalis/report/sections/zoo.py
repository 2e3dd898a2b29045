"""Report section of the model zoo: params, GFLOPs and CPU latency per family, and a params-vs-FLOPs map.

The figures are computed by the experiment `nivalis.experiments.zoo_table` when the section is built.
"""

from __future__ import annotations

from pathlib import Path

from nivalis.experiments.zoo_table import profile_representatives, zoo_points
from nivalis.figures import save_figure
from nivalis.report.build import Section

__all__ = ["build"]


def build(out_dir: Path, quick: bool) -> Section:
    """Report section: the zoo table (params, GFLOPs, CPU latency per family) and the params-vs-FLOPs map."""
    rows = profile_representatives(quick)
    points = zoo_points()
    sec = Section("Model zoo: parameters, FLOPs and CPU latency")
    sec.text(f"{len(points)} registered architectures in {len({p['family'] for p in points})} families "
             "(seed 001), each built from shared blocks in `nivalis.layers`. Parameters are counted at "
             "1000 classes (LeNet-5: 10, U-Net: 2); FLOPs with PyTorch's FlopCounterMode at batch 1 "
             "(multiply-add = 2 FLOPs); latency is the median of "
             f"{2 if quick else 5} batch-1 forward passes in float32 on one CPU thread of this machine "
             "(one thread keeps the figure stable when other jobs share the cores; it still moves with load).")
    table = [[r["family"], r["model"], r["input"], r["params"], round(r["gflops"], 3), round(r["latency_ms"], 1),
              round(r["gflops"] / (r["latency_ms"] / 1e3), 1)] for r in rows]
    sec.table(["family", "model", "input", "params", "GFLOPs", "latency (ms)", "GFLOP/s"], table,
              caption="One representative per family; the fused RepVGG row is the same network after "
                      "`reparameterize()` (one 3×3 convolution per layer)")
    sec.figure(_scatter(points, rows, out_dir / "figures" / "zoo_params_flops.png"),
               "Left: parameters vs FLOPs of every zoo model (log-log). Right: FLOPs per second each "
               "representative achieves on the CPU (LeNet-5 left out: 32×32 input); depthwise and grouped "
               "convolutions and many small layers run far below dense 3×3 networks.")
    return sec


def _scatter(points: list[dict], rows: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    families = sorted({p["family"] for p in points})
    cmap = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.6), gridspec_kw={"wspace": 0.62, "width_ratios": [1.15, 1]})
    ax = axes[0]
    for i, family in enumerate(families):
        pts = [p for p in points if p["family"] == family]
        ax.scatter([p["gflops"] for p in pts], [p["params"] / 1e6 for p in pts], s=28, color=cmap(i % 20),
                   label=family, edgecolor="black", linewidth=0.3)
    for r in rows:
        if r["model"] != "repvgg_a0 (fused)":
            ax.annotate(r["model"], (r["gflops"], r["params"] / 1e6), fontsize=6.5, xytext=(3, 2),
                        textcoords="offset points")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("GFLOPs per image (multiply-add = 2, native input)"), ax.set_ylabel("parameters (millions)")
    ax.set_title("Parameters vs FLOPs, every zoo model")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6.5, ncol=2, loc="upper left")
    ax = axes[1]
    ranked = sorted((r for r in rows if r["model"] != "lenet5"), key=lambda r: r["gflops"] / r["latency_ms"])
    speed = [r["gflops"] / (r["latency_ms"] / 1e3) for r in ranked]
    ax.barh(range(len(ranked)), speed, color=[cmap(families.index(r["family"]) % 20) for r in ranked],
            edgecolor="black", linewidth=0.3)
    ax.set_yticks(range(len(ranked)), [f"{r['model']}  ({r['gflops']:.2g} GFLOPs, {r['latency_ms']:.0f} ms)"
                                       for r in ranked], fontsize=7)
    ax.set_xlabel("achieved GFLOP/s on one CPU thread (FLOPs / latency)")
    ax.set_title("FLOPs are not latency: one model per family")
    ax.grid(alpha=0.3, axis="x")
    return save_figure(fig, path)
