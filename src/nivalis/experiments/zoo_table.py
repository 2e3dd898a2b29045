"""The zoo table experiment: params, GFLOPs and CPU latency of one model per family, and counts of every model.

Parameters and FLOPs come from shape-only builds (`nivalis.profile.meta`, equal to `nivalis.profile.count`
on real tensors), latency is the median wall time of batch-1 forward passes of the real, randomly
initialised model on this CPU. The report section that shows them is `nivalis.report.sections.zoo`.
"""

from __future__ import annotations

import torch

from nivalis.models import create_model, list_models, model_family
from nivalis.profile.counts import count
from nivalis.profile.latency import latency_ms
from nivalis.profile.meta import meta_counts
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
