"""The demo report's EffNet section: seed 003's comparison on digits, table, plot and note."""

from __future__ import annotations

from pathlib import Path

from nivalis.experiments.effnet_compare import CompareConfig, _runs, compare_models, parse_models


def build(out_dir: Path, quick: bool):
    """Report section: the EffNet comparison on digits (SVHN-width networks), table, plot and note."""
    from nivalis.data import load_classification
    from nivalis.report import Section

    preset = "effnet-digits"
    # sized for the demo's time budget (the demo prints each section's seconds)
    cfg = CompareConfig(runs=1 if quick else 2, epochs=5 if quick else 8, latency_runs=50)
    specs, _ = parse_models("effnet_svhn_baseline,mobilenet_svhn,shufflenet_svhn,effnet_svhn", None)
    data = load_classification("digits")
    result = compare_models(specs, data, cfg, out_dir=out_dir / "runs" / "compare-digits")
    sec = Section("EffNet comparison (seed 003) on digits")
    sec.text(f"The seed's protocol (§5: Adam, lr {cfg.lr:g}, β1 = {cfg.beta1}, batch {cfg.batch_size}, no augmentation) "
             f"on scikit-learn's `digits` (upsampled to 32×32, {len(data.train)} training images): each network "
             f"trained {_runs(cfg.runs).replace('run', 'time')} ({cfg.epochs} epochs, seeds "
             f"{', '.join(str(cfg.seed + r) for r in range(cfg.runs))}). The "
             f"networks are the seed's SVHN-width ones (12/24/48 channels), whose 3×3 convolutions are replaced by "
             f"each block; FLOPs are counted at 1×32×32, latency measured here with onnxruntime and PyTorch "
             f"(CPU, batch 1, one thread). `nivalis zoo compare --preset {preset}` runs the longer version with "
             f"MobileNetV2 and EffNet v2 as well.")
    rows = [[r["model"], r["acc_mean"], r["acc_std"] if cfg.runs > 1 else None, r["flops"], round(r["factor"], 3), r["latency_ms"],
             r["torch_latency_ms"], r["params"]] for r in result.rows]
    sec.table(["model", "accuracy (mean)", "std", "FLOPs", "factor", "onnxruntime ms", "PyTorch ms", "params"], rows,
              caption=f"Test accuracy over {cfg.runs} runs, FLOPs and measured latency")
    sec.figure(result.paths["plot"], "Accuracy against FLOPs (left) and against measured onnxruntime latency (right)")
    sec.text(result.note)
    return sec
