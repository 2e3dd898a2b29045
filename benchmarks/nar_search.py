"""NAR on digits: search time of the full budget, and controller vs random search vs the original after retraining.

    python benchmarks/nar_search.py                       # ResNet-18, block granularity, full budget, 3 seeds
    python benchmarks/nar_search.py --width 0.5 --granularity layer --retrain-epochs 15
    python benchmarks/nar_search.py --quick               # the CLI's --quick budget
    python benchmarks/nar_search.py --tiny --results /tmp/RESULTS.md   # a smoke run of the script (not a result)

Prints the wall time of each search and a side-by-side table of the three architectures retrained from
scratch: FLOPs and parameters against the original, test accuracy mean ± std over the seeds, and the
difference to the original in points (target: ≥ 10 % fewer FLOPs at ≤ 0.5 pt lower accuracy). The tables
are appended to benchmarks/RESULTS.md (`results.record`); everything also goes to OUT/benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from results import RESULTS, record


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
    parser.add_argument("--tiny", action="store_true",
                        help="smoke run: width 1/16, tiny proxy, quick budget, 1 seed, 1 retraining epoch")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file the tables are appended to")
    args = parser.parse_args()
    if args.tiny:
        args.quick, args.width, args.seeds, args.retrain_epochs = True, 0.0625, 1, 1
        args.proxy_per_class, args.proxy_val_per_class = 12, 4
    if args.threads:
        torch.set_num_threads(args.threads)

    from nivalis.experiments.nar import format_mean_std, format_paired, refine_and_compare
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
    lines = ["| search | wall time (s) | proxy acc | original path | policy entropy first → last | arch |",
             "|---|---:|---:|---:|---|---|"]
    for strategy, r in res["searches"].items():
        lines.append(f"| {strategy} | {r['seconds']:.0f} | {r['accuracy']:.3f} | {r['baseline_accuracy']:.3f} "
                     f"| {r['entropy'][0]:.2f} → {r['entropy'][-1]:.2f} | {r['arch']} |")
    from nivalis.nas.operators import OPERATOR_NAMES

    codes = sorted({c for choice in res["searches"]["controller"]["choices"] for c in choice})
    lines += ["", "| operator trained (search epochs), per block | " + " | ".join(
        f"{s}: {OPERATOR_NAMES[c]}" for s in res["searches"] for c in codes) + " |",
              "|---|" + "---:|" * (len(codes) * len(res["searches"]))]
    for block in range(len(res["searches"]["controller"]["arch"])):
        cells = [f"{r['frequencies'][block][c]:.2f}" for r in res["searches"].values() for c in codes]
        lines.append(f"| {block + 1} | " + " | ".join(cells) + " |")
    lines += ["", "| retrained | params | MFLOPs | FLOPs vs original | test acc (mean ± std) | Δ pt | per seed |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for row in res["rows"]:
        accs = ", ".join(f"{a:.4f}" for a in row["accuracies"])
        change = -100 * row["flops_reduction"] + 0.0
        lines.append(f"| {row['role']} | {row['params']:,} | {row['flops'] / 1e6:.1f} | {change:.1f}% "
                     f"| {format_mean_std(row['acc_mean'], row['acc_std'])} | {row['acc_delta_pt']:+.2f} | {accs} |")
    lines += ["", f"Paired per-seed differences ({res['paired_test']}):"]
    lines += [f"- {name.replace('_', ' ')}: {format_paired(comp)}" for name, comp in res["paired"].items()]
    c = {r["role"]: r for r in res["rows"]}["controller"]
    ok = c["flops_reduction"] >= 0.10 and c["acc_delta_pt"] >= -0.5
    lines += ["", f"Target (≥ 10% fewer FLOPs at ≤ 0.5 pt lower accuracy): {'met' if ok else 'missed'} by the "
                  f"controller; total {time.perf_counter() - t0:.0f} s (retraining {res['seconds']['retrain']:.0f} s "
                  f"for {3 * args.seeds} runs)."]
    table = "\n".join(lines)
    print()
    print(table)
    title = (f"NAR search: {args.backbone} ({args.granularity}), width {args.width}, {args.data}, "
             f"{'quick' if args.quick else 'full'} budget, {args.seeds} seed(s)")
    record(title, table, results=args.results)
    res.pop("search_runs")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmark.json").write_text(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
