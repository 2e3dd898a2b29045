"""Dense vs window-batched evaluation of the 33 px window CNN on a 512 × 512 RGB image.

Both compute P(avalanche) for every pixel from the same classifier: window by window (windows cut from
the reflect-padded image with a zero-copy view, classified `--batch` at a time) and densely (the
classifier converted to its exact fully convolutional form, run in tiles). Prints seconds, pixels/s,
the largest probability difference and the speed-up side by side; target: same map, ≥ 100× faster.

Run: `python benchmarks/avalanche_dense.py [--checkpoint runs/.../checkpoint.pt] [--rows N]`
(`--rows` classifies only the first N rows window by window and extrapolates its time; default: all).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nivalis.avalanche.dense import predict_probability, predict_windows
from nivalis.avalanche.models import build_classifier, load_classifier
from nivalis.avalanche.simulate import simulate_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a trained 33 px classifier (default: freshly initialised weights)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rows", type=int, default=None, help="window-by-window rows to time (default: all)")
    parser.add_argument("--batch", type=int, default=1024, help="windows per batch of the window-by-window pass")
    parser.add_argument("--tile", type=int, default=512)
    args = parser.parse_args()

    torch.manual_seed(0)
    if args.checkpoint:
        clf = load_classifier(args.checkpoint)
    else:
        clf = build_classifier("cnn", 33, 3).eval()  # speed does not depend on the weights' values
    image = simulate_scene(np.random.default_rng(0), (args.size, args.size)).image
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {clf.model_name} {clf.window}×{clf.window}"
          f"×{clf.channels}, image {args.size}×{args.size}")

    predict_probability(clf, image[:64, :64], tile=args.tile)  # warm-up (oneDNN primitive creation)
    t0 = time.perf_counter()
    dense = predict_probability(clf, image, tile=args.tile)
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    dense_bf16 = predict_probability(clf, image, tile=args.tile, precision="bf16")
    t_bf16 = time.perf_counter() - t0

    rows = args.size if args.rows is None else min(args.rows, args.size)
    t0 = time.perf_counter()
    windowed = predict_windows(clf, image, rows=rows, batch_size=args.batch)
    t_win = (time.perf_counter() - t0) * args.size / rows
    diff = float(np.abs(dense[:rows] - windowed).max())
    diff_bf16 = float(np.abs(dense_bf16[:rows] - windowed).max())
    pixels = args.size * args.size

    print(f"\n{'method':<34} {'seconds':>10} {'pixels/s':>12} {'max |Δp|':>10} {'speed-up':>9}")
    note = "" if rows == args.size else f" (timed on {rows} rows)"
    print(f"{'window by window, batch ' + str(args.batch):<34} {t_win:>10.2f} {pixels / t_win:>12,.0f} {0.0:>10.1e} "
          f"{1.0:>8.1f}×{note}")
    print(f"{'dense, fp32':<34} {t_dense:>10.3f} {pixels / t_dense:>12,.0f} {diff:>10.1e} {t_win / t_dense:>8.0f}×")
    print(f"{'dense, bf16 autocast':<34} {t_bf16:>10.3f} {pixels / t_bf16:>12,.0f} {diff_bf16:>10.1e} "
          f"{t_win / t_bf16:>8.0f}×")
    ok = diff <= 1e-4 and t_win / t_dense >= 100
    print(f"\ntarget (same map within 1e-4, ≥ 100× faster): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
