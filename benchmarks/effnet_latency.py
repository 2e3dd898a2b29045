"""FLOPs against measured CPU latency for the seed 003 networks: the column the EffNet paper lacks.

For each network: parameters, FLOPs (FlopCounterMode, multiply-add = 2, batch 1) and the FLOP factor
against the first network, next to the median onnxruntime and PyTorch-eager latency at batch 1 and
their factors. A FLOP factor far below the latency factor means the network saves arithmetic but
not time: depthwise, 1×N and pooling layers are memory-bound and each operator has a fixed cost.
Run: `python benchmarks/effnet_latency.py [--data cifar|svhn|gtsrb] [--threads 1] [--runs 200] [--batch 1]`;
the table is appended to `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse

import torch

from nivalis.models import create_model
from nivalis.models.effnet import SETTINGS, VARIANTS
from nivalis.profile import count, latency_ms, onnx_latency_ms
from results import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cifar", choices=sorted(SETTINGS), help="which seed widths (default cifar)")
    parser.add_argument("--models", default=None, help="comma-separated registered names (default: all variants)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of both runtimes (default 1)")
    parser.add_argument("--runs", type=int, default=200, help="timed passes per median")
    parser.add_argument("--batch", type=int, default=1, help="PyTorch batch size (onnxruntime: always 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models.split(",") if args.models else [p.format(d=args.data) for p in VARIANTS]
    shape = (3, 32, 32)
    print(f"{args.data} networks at {'x'.join(map(str, shape))}, {args.threads} thread(s), "
          f"median of {args.runs} passes, torch {torch.__version__}")
    header = (f"{'model':<24} {'params':>9} {'MFLOPs':>8} {'FLOP x':>7} {'ORT ms':>8} {'ORT x':>6} "
              f"{'torch ms':>9} {'torch x':>8} {'ORT us/MFLOP':>13}")
    print(header)
    print("-" * len(header))
    reference = None
    table = ["| model | params | MFLOPs | FLOP x | ORT ms | ORT x | torch ms | torch x | ORT us/MFLOP |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        torch.manual_seed(0)
        model = create_model(name).eval()
        counts = count(model, shape)
        ort = onnx_latency_ms(model, shape, runs=args.runs, threads=args.threads)
        eager = latency_ms(model, shape, runs=args.runs, batch=args.batch)
        reference = reference or (counts["flops"], ort, eager)
        mflops = counts["flops"] / 1e6
        print(f"{name:<24} {counts['params']:>9,} {mflops:>8.2f} {counts['flops'] / reference[0]:>7.2f} "
              f"{ort:>8.3f} {ort / reference[1]:>6.2f} {eager:>9.3f} {eager / reference[2]:>8.2f} "
              f"{1000 * ort / mflops:>13.2f}", flush=True)
        table.append(f"| {name} | {counts['params']:,} | {mflops:.2f} | {counts['flops'] / reference[0]:.2f} | "
                     f"{ort:.3f} | {ort / reference[1]:.2f} | {eager:.3f} | {eager / reference[2]:.2f} | "
                     f"{1000 * ort / mflops:.2f} |")
    record(f"EffNet FLOPs vs CPU latency ({args.data}, {args.threads} thread(s), median of {args.runs}, "
           f"batch {args.batch})", "\n".join(table))


if __name__ == "__main__":
    main()
