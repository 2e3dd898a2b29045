"""The zoo's report section: params, GFLOPs and CPU latency per family, and a params-vs-FLOPs map.

Everything shown is measured when the section is built: parameters and FLOPs from shape-only builds
(`nivalis.models.meta`, equal to `nivalis.profile.count`), latency as the median wall time of batch-1
forward passes of the real, randomly initialised model on this CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nivalis.models import create_model, list_models, model_family
from nivalis.models.meta import meta_counts
from nivalis.profile.latency import latency_ms
from nivalis.progress import progress

# One representative per family, at the input its paper uses (224×224 unless the family is defined
# otherwise: Inception v3 at 299, LeNet on 1×32×32 digits, U-Net on 1-channel tiles).
REPRESENTATIVES: tuple[str, ...] = (
    "lenet5", "alexnet", "vgg16", "googlenet", "inception_v3", "allcnn_imagenet", "resnet50", "seresnet50",
    "densenet121", "mobilenet_v2", "mobilenet_v3_large", "shufflenet_v2_x1_0", "efficientnet_b0", "repvgg_a0",
    "convnext_tiny", "unet",
)
# Families profiled in their own report sections (seed 003 EffNets, seed 004 face backbones).
OTHER_SECTIONS = frozenset({"effnet", "iresnet"})


def native_input(name: str) -> tuple[int, int, int]:
    """The C×H×W a registered zoo model is defined for."""
    if name == "lenet5":
        return (1, 32, 32)
    if name == "allcnn_c":
        return (3, 32, 32)
    if name == "unet":
        return (1, 224, 224)
    if name in ("inception_v3", "inception_resnet_v2"):
        return (3, 299, 299)
    if name.startswith("efficientnet_"):
        from nivalis.models.efficientnet import PHI, CompoundScaling

        side = CompoundScaling().coefficients(PHI[name.rsplit("_", 1)[-1]])[2]
        return (3, side, side)
    return (3, 224, 224)


LATENCY_THREADS = 1  # one intra-op thread: stable when other jobs share the cores (see STYLE/DESIGN notes)


def profile_representatives(quick: bool) -> list[dict]:
    """Rows {family, model, input, params, gflops, latency_ms} for every representative (+ fused RepVGG)."""
    before = torch.get_num_threads()
    torch.set_num_threads(LATENCY_THREADS)
    try:
        return _profile_representatives(2 if quick else 5)
    finally:
        torch.set_num_threads(before)


def _profile_representatives(runs: int) -> list[dict]:
    rows = []
    for name in progress(REPRESENTATIVES, total=len(REPRESENTATIVES), desc="profiling zoo"):
        shape = native_input(name)
        counts = meta_counts(name, shape)
        torch.manual_seed(0)
        model = create_model(name).eval()
        row = {"family": model_family(name), "model": name, "input": "×".join(map(str, shape)),
               "params": counts["params"], "gflops": counts["flops"] / 1e9,
               "latency_ms": latency_ms(model, shape, runs=runs, warmup=1)}
        rows.append(row)
        if name == "repvgg_a0":  # the point of RepVGG: the same function, cheaper at inference
            model.reparameterize()
            from nivalis.profile.counts import count

            fused = count(model, shape)
            rows.append({**row, "model": "repvgg_a0 (fused)", "params": fused["params"],
                         "gflops": fused["flops"] / 1e9, "latency_ms": latency_ms(model, shape, runs=runs, warmup=1)})
        del model
    return rows


def zoo_points() -> list[dict]:
    """{model, family, params, gflops} of every registered zoo model at its native input."""
    points = []
    names = [n for n in list_models() if model_family(n) not in OTHER_SECTIONS]
    for name in progress(names, total=len(names), desc="counting zoo"):
        counts = meta_counts(name, native_input(name))
        points.append({"model": name, "family": model_family(name), "params": counts["params"],
                       "gflops": counts["flops"] / 1e9})
    return points


def _scatter(points: list[dict], rows: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    from nivalis.report import save_figure

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


def demo_section(out_dir: Path, quick: bool):
    """Report section: the zoo table (params, GFLOPs, CPU latency per family) and the params-vs-FLOPs map."""
    from nivalis.report import Section

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
