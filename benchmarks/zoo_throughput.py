"""Training throughput of zoo models on this CPU: images/s for forward + backward at batch 8.

Prints one row per model with float32 (contiguous), float32 channels-last and bfloat16 autocast
side by side, plus the bf16 speed-up. Run: `python benchmarks/zoo_throughput.py [--size 224] [--steps 3]`;
the table is appended to `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from nivalis.models import create_model
from results import record

MODELS = ("resnet50", "mobilenet_v2", "efficientnet_b0", "convnext_tiny")


def images_per_second(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, *,
                      channels_last: bool = False, bf16: bool = False) -> float:
    """Median-free simple rate: `steps` timed forward + backward passes after one warm-up pass."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    x = x.contiguous(memory_format=fmt)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * x.shape[0] / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated registered names")
    parser.add_argument("--size", type=int, default=224, help="input side (default 224)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"forward+backward, batch {args.batch}, {args.size}x{args.size}, {args.threads} threads, "
          f"torch {torch.__version__}")
    header = f"{'model':<18} {'fp32 img/s':>11} {'fp32 NHWC':>11} {'bf16 img/s':>11} {'bf16/fp32':>10}"
    print(header)
    print("-" * len(header))
    table = ["| model | fp32 img/s | fp32 NHWC img/s | bf16 img/s | bf16/fp32 |", "|---|---:|---:|---:|---:|"]
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name, num_classes=1000)
        x = torch.randn(args.batch, 3, args.size, args.size)
        y = torch.randint(0, 1000, (args.batch,))
        fp32 = images_per_second(model, x, y, args.steps)
        nhwc = images_per_second(model, x, y, args.steps, channels_last=True)
        bf16 = images_per_second(model, x, y, args.steps, bf16=True)
        print(f"{name:<18} {fp32:>11.2f} {nhwc:>11.2f} {bf16:>11.2f} {bf16 / fp32:>9.2f}x", flush=True)
        table.append(f"| {name} | {fp32:.2f} | {nhwc:.2f} | {bf16:.2f} | {bf16 / fp32:.2f}x |")
    record(f"Zoo training throughput (forward+backward, batch {args.batch}, {args.size}x{args.size}, "
           f"{args.threads} threads)", "\n".join(table))


if __name__ == "__main__":
    main()
