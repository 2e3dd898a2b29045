"""The demo report's face section: ArcFace verification on the digits stand-in (not faces), accuracy, TAR@FAR, ROC."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build(out_dir: Path, quick: bool):
    """Report section: a short ArcFace run on the digits stand-in, insightface's verification protocol, ROC figure."""
    from nivalis.face.train import standin_config, train_face
    from nivalis.figures import pyplot
    from nivalis.report import Section, save_figure

    out_dir = Path(out_dir)
    epochs = 3 if quick else 8
    cfg = standin_config(loss="arcface", epochs=epochs, seed=0)
    run = train_face("digits", cfg, out_dir / "runs" / "face-arcface-digits", evaluate_untrained=True,
                     desc="face arcface (stand-in)")
    r = run.result
    v, u = r["verification"], r["untrained"]
    sec = Section("Face verification (seed 004 §4): ArcFace on a digits stand-in, not faces")
    sec.text(
        "**This is a stand-in, not face data**: no face images ship with nivalis, so scikit-learn's handwritten "
        "digits play the faces and each digit class plays an identity. Digits 0-6 are the training identities; "
        "the verification pairs are drawn over images never trained on (a held-out fifth of digits 0-6 and every "
        "image of digits 7-9, identities training never sees), as LFW's protocol draws them: 10 folds of "
        f"{cfg.pairs_per_fold} same and {cfg.pairs_per_fold} different pairs. "
        f"The backbone is {cfg.backbone} at width {cfg.width:g} on {cfg.input_size}×{cfg.input_size} inputs "
        f"(the seed's LResNet50E-IR takes 112×112 faces), trained {epochs} epochs with the ArcFace head "
        f"(s = {cfg.scale:g}, m = 0.5), Adam, lr {cfg.lr:g}, cosine decay, seed {cfg.seed}. "
        f"Data: {r['data']}.")
    sec.text(
        "Evaluation follows insightface's `eval/verification.py`: embeddings of each image and its horizontal flip "
        "are summed and L2-normalised; accuracy is the 10-fold cross-validated best threshold on the squared "
        "distance (grid 0-4, step 0.01, chosen on 9 folds, applied to the 10th), reported as mean ± std over the "
        "folds; TAR@FAR=1e-3 uses the threshold at which the other folds' FAR is 1e-3. On real data: "
        "`nivalis face train --data faces_emore/` (RecordIO with lfw.bin, cfp_fp.bin, agedb_30.bin beside it), "
        "then `nivalis face verify --bin lfw.bin --checkpoint runs/face-arcface/checkpoint.pt`.")
    rows = [["untrained network", f"{u['accuracy']:.4f} ± {u['accuracy_std']:.4f}", u["tar_at_far"], u["threshold"]],
            [f"ArcFace, {epochs} epochs", f"{v['accuracy']:.4f} ± {v['accuracy_std']:.4f}", v["tar_at_far"],
             v["threshold"]]]
    sec.table(["embedder", "accuracy ± std (10 folds)", "TAR@FAR=1e-3", "mean threshold"], rows,
              caption=f"Verification on the digits stand-in (not faces): {v['pairs']} pairs; "
                      f"training {r['seconds']:.0f} s; validation accuracy of the 7-identity classifier "
                      f"{r.get('val_accuracy', float('nan')):.3f}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4))
    roc = run.verification["digits"]["roc"]
    untrained_roc = run.untrained["digits"]["roc"] if run.untrained else None
    ax.plot(np.maximum(roc["fpr"], 1e-4), roc["tpr"], label=f"ArcFace, {epochs} epochs")
    if untrained_roc is not None:
        ax.plot(np.maximum(untrained_roc["fpr"], 1e-4), untrained_roc["tpr"], label="untrained", ls="--")
    ax.axvline(1e-3, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log"), ax.set_xlim(1e-4, 1), ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (fold mean)"), ax.set_ylabel("true accept rate"), ax.grid(alpha=.3)
    ax.legend(loc="lower right"), ax.set_title("ROC on the digits stand-in (not faces)", fontsize=10)
    sec.figure(save_figure(fig, out_dir / "figures" / "face_roc_standin.png"),
               "ROC of the verification pairs (stand-in, not faces): fold-mean TPR against FPR on the threshold grid; "
               "the dotted line is FAR = 1e-3")
    gain = v["accuracy"] - u["accuracy"]
    sec.text(f"Training moved verification accuracy from {u['accuracy']:.4f} (untrained) to {v['accuracy']:.4f} "
             f"({gain:+.4f}). These numbers describe digits, not faces; they say the pipeline (margin head, "
             "flip-summed embeddings, 10-fold protocol) works end to end, not how well a face model would do. "
             "`benchmarks/face_losses.py` compares ArcFace with the margin-free softmax over three seeds.")
    return sec
