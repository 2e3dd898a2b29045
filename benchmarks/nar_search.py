"""NAR on digits: search time of the full budget, and controller vs random search vs the original after retraining.

    python benchmarks/nar_search.py                       # ResNet-18, block granularity, full budget, 3 seeds
    python benchmarks/nar_search.py --width 0.5 --granularity layer --retrain-epochs 15
    python benchmarks/nar_search.py --quick               # the CLI's --quick budget

Prints the wall time of each search (the issue's target: a full search on digits in ≤ 20 min here) and
a side-by-side table of the three architectures retrained from scratch: FLOPs and parameters against
the original, test accuracy mean ± std over the seeds, and the difference to the original in points
(target: ≥ 10 % fewer FLOPs at ≤ 0.5 pt lower accuracy). Results also go to OUT/benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--granularity", default="block", choices=["block", "layer"])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="the CLI's --quick search budget")
    parser.add_argument("--reward", default="acc", choices=["acc", "acc-flops", "acc-latency"])
    parser.add_argument("--proxy-per-class", type=int, default=60)
    parser.add_argument("--proxy-val-per-class", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--retrain-epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/nivalis-bench-nar"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from nivalis.nas.experiment import refine_and_compare
    from nivalis.nas.search import NARConfig, budget
    from nivalis.progress import set_quiet

    set_quiet(not sys.stderr.isatty())
    cfg = NARConfig(backbone=args.backbone, granularity=args.granularity, width=args.width, reward=args.reward,
                    proxy_per_class=args.proxy_per_class, proxy_val_per_class=args.proxy_val_per_class,
                    **budget(args.quick))
    print(f"NAR benchmark: {args.backbone} ({args.granularity}) width {args.width} on {args.data}, "
          f"{'quick' if args.quick else 'full'} budget ({cfg.pretrain_epochs} + {cfg.epochs} epochs), "
          f"reward {args.reward}, {torch.get_num_threads()} thread(s), load {os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.perf_counter()
    res = refine_and_compare(cfg, args.data, data_dir=args.data_dir, seeds=args.seeds,
                             retrain_epochs=args.retrain_epochs, out_dir=args.out)
    print()
    print(f"{'search':<12}{'wall time':>12}{'proxy acc':>11}{'orig. path':>11}  arch")
    for strategy, r in res["searches"].items():
        print(f"{strategy:<12}{r['seconds']:>10.0f} s{r['accuracy']:>11.3f}{r['baseline_accuracy']:>11.3f}  "
              f"{r['arch']}")
    print()
    print(f"{'retrained':<12}{'params':>11}{'MFLOPs':>10}{'FLOPs':>9}{'test acc (mean ± std)':>25}{'Δ pt':>8}"
          f"  per seed")
    for row in res["rows"]:
        accs = ", ".join(f"{a:.4f}" for a in row["accuracies"])
        change = -100 * row["flops_reduction"] + 0.0
        print(f"{row['role']:<12}{row['params']:>11,}{row['flops'] / 1e6:>10.1f}{change:>8.1f}%"
              f"{row['acc_mean']:>16.4f} ± {row['acc_std']:.4f}{row['acc_delta_pt']:>+8.2f}  {accs}")
    c = {r["role"]: r for r in res["rows"]}["controller"]
    ok = c["flops_reduction"] >= 0.10 and c["acc_delta_pt"] >= -0.5
    print(f"\ntarget (≥ 10% fewer FLOPs at ≤ 0.5 pt lower accuracy): {'met' if ok else 'missed'} "
          f"by the controller; "
          f"total {time.perf_counter() - t0:.0f} s "
          f"(retraining {res['seconds']['retrain']:.0f} s for {3 * args.seeds} runs)")
    res.pop("search_runs")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmark.json").write_text(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
