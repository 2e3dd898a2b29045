"""ArcFace against the margin-free (normalised) softmax on the digits stand-in (not faces), over several seeds.

    python benchmarks/face_losses.py                    # arcface vs softmax, 3 seeds, 6 epochs each
    python benchmarks/face_losses.py --losses arcface,cosface,softmax --epochs 8

Each run is `nivalis face train --data digits --loss L --seed S --epochs N`: the same backbone, data, pairs
and optimiser; only the head differs. Prints verification accuracy ± fold std and TAR@FAR=1e-3 per seed,
the mean over seeds, and the paired difference to softmax per seed; appends the table to
benchmarks/RESULTS.md. The data are handwritten digits standing in for faces, not faces.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from nivalis.face.train import standin_config, train_face
from results import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", default="arcface,softmax")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=Path("/tmp/nivalis-bench-face"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    losses = [s.strip() for s in args.losses.split(",") if s.strip()]
    seeds = list(range(args.seeds))
    runs: dict[str, list[dict]] = {loss: [] for loss in losses}
    t0 = time.perf_counter()
    for seed in seeds:
        for loss in losses:
            cfg = standin_config(loss=loss, epochs=args.epochs, seed=seed)
            r = train_face("digits", cfg, args.out / f"{loss}-s{seed}", desc=f"{loss} seed {seed}").result
            runs[loss].append(r)
            v = r["verification"]
            print(f"{loss:<8} seed {seed}: accuracy {v['accuracy']:.4f} ± {v['accuracy_std']:.4f}, "
                  f"TAR@FAR=1e-3 {v['tar_at_far']:.4f}, {r['seconds']:.0f} s", flush=True)
    base = "softmax" if "softmax" in losses else losses[-1]
    head = ["loss", *[f"seed {s} acc ± fold std" for s in seeds], "mean acc ± std over seeds", "mean TAR@FAR=1e-3",
            f"Δ acc vs {base} (pt, per seed)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for loss in losses:
        acc = np.array([r["verification"]["accuracy"] for r in runs[loss]])
        tar = np.array([r["verification"]["tar_at_far"] for r in runs[loss]])
        ref = np.array([r["verification"]["accuracy"] for r in runs[base]])
        cells = [f"{r['verification']['accuracy']:.4f} ± {r['verification']['accuracy_std']:.4f}" for r in runs[loss]]
        delta = ", ".join(f"{100 * d:+.2f}" for d in acc - ref) if loss != base else "–"
        lines.append("| " + " | ".join([loss, *cells, f"{acc.mean():.4f} ± {acc.std():.4f}", f"{tar.mean():.4f}",
                                        delta]) + " |")
    wins = {loss: int(sum(a["verification"]["accuracy"] > b["verification"]["accuracy"]
                          for a, b in zip(runs[loss], runs[base]))) for loss in losses if loss != base}
    cfg = standin_config(epochs=args.epochs)
    note = (f"\nDigits stand-in, not faces (train identities 0-6; {runs[losses[0]][0]['verification']['pairs']} "
            f"LFW-style pairs over unseen images incl. the unseen identities 7-9); {cfg.backbone} width {cfg.width:g}, "
            f"{cfg.input_size}×{cfg.input_size}, {args.epochs} epochs, Adam lr {cfg.lr:g}, s = 64 "
            f"(ArcFace m = 0.5, CosFace m = 0.35, softmax = normalised, no margin). Accuracy: insightface's "
            f"10-fold protocol on image + flip embeddings. "
            + "; ".join(f"{loss} beats {base} in {w} of {len(seeds)} seeds" for loss, w in wins.items())
            + f". Total {time.perf_counter() - t0:.0f} s.")
    table = "\n".join(lines) + "\n" + note
    print("\n" + table)
    record("Face losses on the digits stand-in (not faces): ArcFace vs softmax", table)


if __name__ == "__main__":
    main()
