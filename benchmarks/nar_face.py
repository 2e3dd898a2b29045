"""NAR where seed 004 runs it: the IR backbone of face verification, on the face stand-in, paired over seeds.

    python benchmarks/nar_face.py                       # LResNet34E-IR width 1/8, 16 px, 1 + 29 epochs, 5 seeds
    python benchmarks/nar_face.py --budget quick        # `refine search --quick`'s 1 + 9 epochs, 60 per identity
    python benchmarks/nar_face.py --tiny --results /tmp/RESULTS.md   # smoke run of the script (not a result)

For each seed s: the default controller and random search (same budget) search the operators of the stand-in's
backbone (`nivalis.face.standin_config`: LResNet34E-IR at width 1/8 on 16×16 inputs, block granularity: one
operator per residual block) on the stand-in's training identities only (digits 0–6 of its training split, as
a 7-class proxy task); then the original backbone and both
finds are trained as face embedders exactly as `nivalis face train --data digits` trains (ArcFace, seed s) and
verified on the stand-in's pairs (10-fold accuracy over unseen images of identities 0–6 and the unseen
identities 7–9). MACs are the embedder's at 16×16. Paired differences as in `nivalis.experiments.nar`.
Budget: by default ("fit") every training image of those identities (about 124 each: 104 proxy-train + 20
proxy-valid) and 1 + 29 epochs (SGDR cycles of 10 and 20 epochs), the controller's 5 updates of 20 children per
epoch as in `--quick`. At the quick budget (60 per identity, 1 + 9 epochs) this deep supernet does not fit the proxy
task: its original path scores near chance (1/7) on proxy validation, the rewards are noise, and the policy
drifts onto one operator (the search then warns, `nivalis.nas.search.proxy_fit`); `--budget quick` reruns that.
The stand-in is digits, not faces: the table says how the search behaves on this backbone and protocol, not
what it would find on MS1M.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from results import RESULTS, publish

ROWS = (("default controller", {}), ("random search (same budget)", {"strategy": "random"}))


def proxy_data(cfg):
    """The stand-in's training identities as a classification task (what the search may see; no test image)."""
    from torch.utils.data import TensorDataset

    from nivalis.data import ClassificationData
    from nivalis.face.train import standin_data

    fd = standin_data(cfg)
    train, val = TensorDataset(fd.train.x, fd.train.labels), TensorDataset(fd.val.x, fd.val.labels)
    return ClassificationData(name="face stand-in identities 0-6", train=train, val=val, test=val,
                              num_classes=fd.num_classes, in_chans=fd.in_chans, image_size=cfg.input_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--face-epochs", type=int, default=None, help="embedder training epochs (stand-in's: 8)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--budget", choices=("fit", "quick"), default="fit",
                        help="fit: all images of the training identities, 1 + 29 epochs; quick: --quick's")
    parser.add_argument("--tiny", action="store_true", help="smoke run: 1 seed, tiny budget, 1 face epoch")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file the table is appended to")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from nivalis.experiments.nar import PAIRED_TEST, format_mean_std, format_paired, mean_std, paired_comparison
    from nivalis.face.train import build_backbone, standin_config, train_face
    from nivalis.nas.search import NARConfig, budget, search
    from nivalis.profile.counts import count_flops
    from nivalis.progress import set_quiet

    set_quiet(not sys.stderr.isatty())
    face = standin_config(**({"epochs": args.face_epochs} if args.face_epochs else {}))
    base = NARConfig(backbone=face.backbone, granularity="block", width=face.width, batch_size=32, **budget(True))
    if args.budget == "fit":
        base = replace(base, proxy_per_class=10_000, epochs=29)  # make_proxy takes the smallest identity's count
    if args.tiny:
        base = replace(base, width=0.0625, proxy_per_class=12, proxy_val_per_class=4, epochs=1, controller_steps=2,
                       samples_per_update=4, derive_samples=2, reward_batch_size=16)
        face, args.seeds = replace(face, epochs=1, pairs_per_fold=30), 1
    data = proxy_data(face)
    seeds = list(range(args.seeds))
    print(f"NAR on the face stand-in: {face.backbone} width {base.width}, {face.input_size} px, {args.budget} budget "
          f"({base.pretrain_epochs} + {base.epochs} epochs), "
          f"seeds {seeds}, {torch.get_num_threads()} thread(s), load {os.getloadavg()[0]:.1f}", flush=True)

    def macs(ops) -> int:
        cfg = replace(face, ops=None if ops is None else tuple(ops))
        return count_flops(build_backbone(cfg, data.in_chans).eval(), data.input_shape) // 2

    def verified(ops, seed: int, tmp: Path) -> float:
        cfg = replace(face, seed=seed, ops=None if ops is None else tuple(ops))
        run = train_face("digits", cfg, tmp / f"{'-'.join(map(str, ops)) if ops else 'original'}-s{seed}",
                         desc=f"face s{seed}")
        return run.result["verification"]["accuracy"]

    t0 = time.perf_counter()
    original_macs = macs(None)
    acc = {label: [] for label, _ in ROWS} | {"original": []}
    change = {label: [] for label, _ in ROWS}
    archs = {label: [] for label, _ in ROWS}
    fit = []  # the original path's proxy-validation accuracy at the end of each search (shared weights)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            acc["original"].append(verified(None, seed, Path(tmp)))
            for label, setting in ROWS:
                run = search(replace(base, seed=seed, **setting), data, desc=f"{label} s{seed}").result
                found = run["arch"]
                fit.append(run["proxy_fit"]["original_path_accuracy"])
                archs[label].append(found)
                change[label].append(100 * (macs(found) / original_macs - 1))
                acc[label].append(verified(found, seed, Path(tmp)))
                print(f"seed {seed} {label}: arch {found}, MACs {change[label][-1]:+.1f}%, verification "
                      f"{acc[label][-1]:.4f} (original {acc['original'][-1]:.4f})", flush=True)

    def data_size(cfg) -> int:
        return min(cfg.proxy_per_class, int(torch.bincount(data.train.tensors[1]).min()))

    def ms(values):
        return format_mean_std(*mean_std(values))

    random = ROWS[1][0]
    lines = ["| backbone | MACs vs original (mean, range) | verification acc (10-fold) | minus original "
             "| minus random search |", "|---|---|---|---|---|",
             f"| original {face.backbone} (all conv 3×3), {original_macs / 1e6:.2f} M MACs | 0 | "
             f"{ms(acc['original'])} | - | - |"]
    for label, _ in ROWS:
        vs_rand = "-" if label == random else format_paired(paired_comparison(acc[label], acc[random]))
        lines.append(f"| {label} | {statistics.fmean(change[label]):+.1f}% ({min(change[label]):+.1f} … "
                     f"{max(change[label]):+.1f}) | {ms(acc[label])} | "
                     f"{format_paired(paired_comparison(acc[label], acc['original']))} | {vs_rand} |")
    lines += ["", "Operators found (one per residual block): "
              + "; ".join(f"{label}: {archs[label]}" for label, _ in ROWS),
              f"Budget {args.budget}: {base.pretrain_epochs} + {base.epochs} epochs, {data_size(base)} proxy images "
              f"per identity; the original path's proxy-validation accuracy at the end of the searches "
              f"{min(fit):.3f} … {max(fit):.3f} (chance {1 / data.num_classes:.3f}).",
              f"{len(seeds)} seeds: search seed s and embedder training seed s ({face.epochs} epochs, {face.loss}) "
              f"per pair; {PAIRED_TEST}. The stand-in is digits, not faces. Total {time.perf_counter() - t0:.0f} s."]
    publish(f"NAR on the face stand-in ({face.backbone} width {base.width}, {face.input_size} px): controller vs "
            f"random search vs the original, paired over {len(seeds)} seeds", lines, results=args.results)


if __name__ == "__main__":
    main()
