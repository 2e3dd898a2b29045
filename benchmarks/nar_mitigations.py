"""NAR on digits: what each mitigation of the controller's pooling collapse changes, at one equal budget.

    python benchmarks/nar_mitigations.py                  # ResNet-18 width 0.25 on 16x16 digits, quick budget
    python benchmarks/nar_mitigations.py --full           # the CLI's full budget (10 + 60 epochs; long)
    python benchmarks/nar_mitigations.py --tiny --results /tmp/RESULTS.md   # smoke run (not a result)
    python benchmarks/nar_mitigations.py --search-seeds 5   # default vs acc-flops vs random, paired over 5 seeds

With `--search-seeds N` the table is paired instead: for each seed s the default controller, the acc-flops
controller and random search (same budget) each search with seed s, and their finds and the original are
retrained with seed s; each row gives the mean MACs change, the retrained accuracy mean ± std over the seeds
and the paired differences (`nivalis.experiments.nar.paired_comparison`) against random search and the
original, then whether the default controller meets the issue's bar (≥ random's accuracy at ≤ its MACs;
within 0.5 pt of the original at ≥ 20 % fewer MACs).

Every variant is one `nivalis.nas.search.search` on the same proxy task and budget; only the named settings
differ from the first row (ENAS as it is: 20 children per update, shared-weight paths from the policy with
no sampling floor, raw advantages, candidates compared with the shared weights as they are). The last
column pair shows why pooling wins under shared weights: the proxy accuracy of the all-conv 3×3 and the
all-avg-pool path after the first epoch (`operator_paths`). For each: the policy entropy first → last epoch, the found
architecture, how many blocks pool, the MACs change, how often conv 3×3 trained its shared weights in
the last epoch (mean over blocks), the proxy accuracy of the found and the original path as the search
compares them, and the found architecture retrained from scratch (`--seeds` seeds) on the full training
split and tested on the test split, beside the original retrained the same way. Appended to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from results import RESULTS, publish

#: the settings of nivalis's default search (`NARConfig`'s defaults) that differ from plain ENAS
DEFAULT = {"fair_sampling": True, "normalize_reward": True, "derive_finetune_steps": 20, "sample_floor": 0.05}
#: (label, settings changed from the plain ENAS row)
VARIANTS = [
    ("ENAS (no floor, no fine-tune)", {}),
    ("+ sampling floor 0.05", {"sample_floor": 0.05}),
    ("+ fine-tuned comparison (20 steps)", {"derive_finetune_steps": 20}),
    ("floor + fine-tune", {"sample_floor": 0.05, "derive_finetune_steps": 20}),
    ("+ FairNAS paths (fine-tune)", {"fair_sampling": True, "derive_finetune_steps": 20}),
    ("+ normalised advantages (fine-tune)", {"normalize_reward": True, "derive_finetune_steps": 20}),
    ("FairNAS + normalised + fine-tune (the default)", DEFAULT),
    ("default without -PreTrain", {**DEFAULT, "pretrain_epochs": 0}),
    ("default, acc-flops, T = 0.75, alpha = +0.3", {**DEFAULT, "reward": "acc-flops", "cost_target": 0.75,
                                                    "cost_exponent_below": 0.3}),
    ("random search (same budget)", {**DEFAULT, "strategy": "random"}),
]


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--full", action="store_true", help="the CLI's full budget instead of --quick's")
    parser.add_argument("--seeds", type=int, default=2, help="retraining seeds per architecture")
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--tiny", action="store_true", help="smoke run: width 1/16, 2 variants, tiny budget")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file the table is appended to")
    parser.add_argument("--search-seeds", type=int, default=1,
                        help="N ≥ 2: the paired table over N search-and-retrain seeds (see the module docstring)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.search_seeds > 1:
        return paired_main(args)

    from nivalis.data import load_classification
    from nivalis.nas.search import NARConfig, budget, retrain, retrain_config, search
    from nivalis.progress import set_quiet

    set_quiet(not sys.stderr.isatty())
    data = load_classification("digits", image_size=args.image_size)
    base = NARConfig(backbone="resnet18", granularity="block", width=args.width, batch_size=32, sample_floor=0.0,
                     derive_finetune_steps=0, fair_sampling=False, normalize_reward=False, **budget(not args.full))
    variants = VARIANTS
    if args.tiny:
        base = replace(base, width=0.0625, proxy_per_class=12, proxy_val_per_class=4, epochs=1, controller_steps=2,
                       samples_per_update=4, derive_samples=2, reward_batch_size=16)
        variants, args.seeds, args.retrain_epochs = VARIANTS[:1] + VARIANTS[6:7], 1, 1
    print(f"NAR mitigations: ResNet-18 (block) width {base.width} on {args.image_size}x{args.image_size} digits, "
          f"{'full' if args.full else 'quick'} budget ({base.pretrain_epochs} + {base.epochs} epochs, "
          f"{base.controller_steps} x {base.samples_per_update} children per epoch), {torch.get_num_threads()} "
          f"thread(s), load {os.getloadavg()[0]:.1f}", flush=True)

    def retrained(spec: dict) -> list[float]:
        return [retrain(spec, data, config=retrain_config(epochs=args.retrain_epochs, seed=s))["accuracy"]
                for s in range(args.seeds)]

    t0 = time.perf_counter()
    lines = ["| variant | entropy first → last | arch | pooling blocks | MACs vs original | conv3x3 trained "
             "(last epoch) | proxy acc found / original | epoch-1 path acc conv / avg | retrained test acc | search s |",
             "|---|---|---|---:|---:|---:|---|---|---|---:|"]
    original = None
    for label, change in variants:
        t = time.perf_counter()
        run = search(replace(base, **change), data, desc=label)
        r = run.result
        seconds = time.perf_counter() - t
        if original is None:
            original = retrained({**r, "arch": [0] * len(r["arch"])})
        accs = retrained(r)
        conv = statistics.fmean(row[0] for row in run.history[-1]["frequencies"])
        pools = sum(code in (2, 3) for code in r["arch"])
        first = r["operator_paths"][0]
        lines.append(f"| {label} | {r['entropy'][0]:.2f} → {r['entropy'][-1]:.2f} | {r['arch']} | {pools} "
                     f"| {-100 * r['flops_reduction'] + 0.0:+.1f}% | {conv:.2f} | {r['accuracy']:.3f} / "
                     f"{r['baseline_accuracy']:.3f} | {first.get('conv3x3', float('nan')):.3f} / "
                     f"{first.get('avg3x3', float('nan')):.3f} | {_mean_std(accs)} | {seconds:.0f} |")
        print(lines[-1], flush=True)
    lines += ["", f"Original (all conv 3×3) retrained the same way: {_mean_std(original)} "
                  f"({args.seeds} seed(s), {args.retrain_epochs} epochs); total {time.perf_counter() - t0:.0f} s."]
    publish(f"NAR mitigations of the pooling collapse: ResNet-18 width {base.width}, digits {args.image_size}px, "
            f"{'full' if args.full else 'quick'} budget", lines, results=args.results)


#: the paired table's rows: (label, settings changed from NARConfig's defaults)
PAIRED = [("default controller", {}),
          ("controller, acc-flops, T = 0.75, alpha = +0.3", {"reward": "acc-flops", "cost_target": 0.75,
                                                            "cost_exponent_below": 0.3}),
          ("random search (same budget)", {"strategy": "random"})]


def paired_main(args) -> None:
    """Default controller vs acc-flops controller vs random search vs the original, paired over search seeds."""
    from nivalis.data import load_classification
    from nivalis.experiments.nar import PAIRED_TEST, format_mean_std, format_paired, mean_std, paired_comparison
    from nivalis.nas.search import NARConfig, budget, retrain, retrain_config, search
    from nivalis.progress import set_quiet

    set_quiet(not sys.stderr.isatty())
    data = load_classification("digits", image_size=args.image_size)
    base = NARConfig(backbone="resnet18", granularity="block", width=args.width, batch_size=32,
                     **budget(not args.full))
    if args.tiny:
        base = replace(base, width=0.0625, proxy_per_class=12, proxy_val_per_class=4, epochs=1, controller_steps=2,
                       samples_per_update=4, derive_samples=2, reward_batch_size=16)
        args.retrain_epochs = 1
    seeds = list(range(args.search_seeds))
    print(f"NAR paired: ResNet-18 (block) width {base.width} on {args.image_size}x{args.image_size} digits, "
          f"{'full' if args.full else 'quick'} budget, seeds {seeds}, {torch.get_num_threads()} thread(s), "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.perf_counter()

    def retrained(spec: dict, seed: int) -> float:
        return retrain(spec, data, config=retrain_config(epochs=args.retrain_epochs, seed=seed))["accuracy"]

    acc = {label: [] for label, _ in PAIRED}
    acc["original"] = []
    macs = {label: [] for label, _ in PAIRED}
    archs = {label: [] for label, _ in PAIRED}
    secs = {label: [] for label, _ in PAIRED}
    for seed in seeds:
        for label, change in PAIRED:
            t = time.perf_counter()
            r = search(replace(base, seed=seed, **change), data, desc=f"{label} s{seed}").result
            secs[label].append(time.perf_counter() - t)
            acc[label].append(retrained(r, seed))
            macs[label].append(-100 * r["flops_reduction"])
            archs[label].append(r["arch"])
            if len(acc["original"]) <= seed:
                acc["original"].append(retrained({**r, "arch": [0] * len(r["arch"])}, seed))
            print(f"seed {seed} {label}: arch {r['arch']}, MACs {macs[label][-1]:+.1f}%, retrained "
                  f"{acc[label][-1]:.4f} (original {acc['original'][seed]:.4f})", flush=True)

    def ms(values, fmt=".4f"):
        return format_mean_std(*mean_std(values), fmt)

    random = "random search (same budget)"
    lines = ["| architecture | MACs vs original (mean, range) | retrained test acc | minus original | minus random search "
             "| search s |", "|---|---|---|---|---|---:|"]
    lines.append(f"| original (all conv 3×3) | 0 | {ms(acc['original'])} | - | - | - |")
    for label, _ in PAIRED:
        vs_orig = format_paired(paired_comparison(acc[label], acc["original"]))
        vs_rand = "-" if label == random else format_paired(paired_comparison(acc[label], acc[random]))
        lines.append(f"| {label} | {statistics.fmean(macs[label]):+.1f}% ({min(macs[label]):+.1f} … "
                     f"{max(macs[label]):+.1f}) | {ms(acc[label])} | {vs_orig} | {vs_rand} | "
                     f"{statistics.fmean(secs[label]):.0f} |")
    default = PAIRED[0][0]
    d_acc = statistics.fmean(acc[default]) - statistics.fmean(acc[random])
    d_macs = statistics.fmean(macs[default]) - statistics.fmean(macs[random])
    gap = 100 * (statistics.fmean(acc["original"]) - statistics.fmean(acc[default]))
    cut = -statistics.fmean(macs[default])
    lines += ["", "Architectures found: " + "; ".join(f"{label}: {archs[label]}" for label, _ in PAIRED),
              "", f"Default controller vs random search: accuracy {100 * d_acc:+.2f} pt, MACs {d_macs:+.1f} pt of the "
              f"original's ({'meets' if d_acc >= 0 and d_macs <= 0 else 'misses'} ≥ random's accuracy at ≤ its MACs); "
              f"vs the original: {-gap:+.2f} pt at {cut:.1f}% fewer MACs "
              f"({'meets' if gap <= 0.5 and cut >= 20 else 'misses'} within 0.5 pt at ≥ 20 % fewer MACs).",
              f"{len(seeds)} seeds: search seed s and retraining seed s ({args.retrain_epochs} epochs, full training "
              f"split, test split) per pair; {PAIRED_TEST}. Total {time.perf_counter() - t0:.0f} s."]
    publish(f"NAR paired over {len(seeds)} seeds: default controller vs random search vs the original, ResNet-18 "
            f"width {base.width}, digits {args.image_size}px, {'full' if args.full else 'quick'} budget", lines,
            results=args.results)


if __name__ == "__main__":
    main()
