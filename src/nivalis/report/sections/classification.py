"""The demo report's classification section: LeNet-5 on digits, its accuracy, data flow and latency."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nivalis.engine import TrainConfig
from nivalis.engine.classify import DIGITS_RECIPE, train_classifier


def build(out_dir: Path, quick: bool):
    """Report section: LeNet-5 trained on digits, learning curve, confusion matrix, profile table."""
    import matplotlib.pyplot as plt

    from nivalis.profile import dataflow, latency_ms
    from nivalis.report import Section, save_figure

    epochs = 6 if quick else 15
    run = train_classifier("lenet5", "digits", config=TrainConfig(epochs=epochs, seed=0, **DIGITS_RECIPE),
                           out_dir=out_dir / "runs" / "lenet5-digits", desc="lenet5 digits")
    sec = Section("Image classification: LeNet-5 on digits")
    d = run.data
    sec.text(f"LeNet-5 trained for {epochs} epochs (Adam, batch 32, lr 3e-3 with cosine decay, seed 0) on "
             "scikit-learn's `digits` "
             f"(real handwritten digits, upsampled to 32×32): {len(d.train)} train, {len(d.val)} validation, "
             f"{len(d.test)} test images in a fixed stratified split.")
    r = run.result
    sec.table(["model", "test accuracy", "params", "FLOPs", "train seconds"],
              [["lenet5", r["test_accuracy"], r["params"], r["flops"], r["seconds"]]], caption="Result on the test split")

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ep = [h["epoch"] for h in run.history]
    ax[0].plot(ep, [h["train_loss"] for h in run.history], label="train loss")
    ax[0].plot(ep, [h["val_loss"] for h in run.history], label="validation loss")
    ax[0].set_xlabel("epoch"), ax[0].set_ylabel("cross-entropy"), ax[0].legend(), ax[0].grid(alpha=.3)
    ax[1].plot(ep, [h["val_accuracy"] for h in run.history], color="C2")
    ax[1].set_xlabel("epoch"), ax[1].set_ylabel("validation accuracy"), ax[1].grid(alpha=.3)
    sec.figure(save_figure(fig, out_dir / "figures" / "lenet5_learning_curve.png"), "Learning curve of LeNet-5 on digits")

    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(run.confusion, cmap="Blues")
    for (i, j), v in np.ndenumerate(run.confusion):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > run.confusion.max() / 2 else "black")
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_xticks(range(10)), ax.set_yticks(range(10))
    fig.colorbar(im, ax=ax, fraction=0.046)
    sec.figure(save_figure(fig, out_dir / "figures" / "lenet5_confusion.png"), "Confusion matrix on the test split")

    rows = [[row["layer"], row["type"], "×".join(map(str, row["shape"])), row["floats"]]
            for row in dataflow(run.model, d.input_shape)]
    sec.table(["layer", "type", "output shape", "floats out"], rows,
              caption=f"Profile: data flow per layer; CPU latency {latency_ms(run.model, d.input_shape):.3f} ms (batch 1)")
    return sec
