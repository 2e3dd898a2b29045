"""`nivalis face`: train an IR backbone with a margin loss, verify on insightface `.bin` pairs, embed images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup

app = typer.Typer(help="Face verification (seed 004 §4, insightface's protocol): ArcFace / CosFace / softmax heads on "
                       "LResNet-E-IR backbones, insightface .bin pairs, MXNet RecordIO, folders per identity. "
                       "`--data digits` is a stand-in (digit classes as identities), not faces.",
                  no_args_is_help=True)


@app.command()
def train(
    data: Annotated[str, typer.Option(help="digits (embedded stand-in, not faces), a RecordIO train.rec (or its "
                                           "folder, insightface's faces_emore layout) or a folder per identity.")]
    = "digits",
    loss: Annotated[str, typer.Option(help="arcface (s=64, m=0.5), cosface (s=64, m=0.35) or softmax "
                                           "(normalised, no margin).")] = "arcface",
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs [default: 8 on digits, 20 otherwise].")] = None,
    seed: Annotated[int, typer.Option(help="Seed for weights and shuffling.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Run folder [default: runs/face-LOSS].")] = None,
    backbone: Annotated[str | None, typer.Option(help="lresnet34e_ir, lresnet50e_ir or lresnet100e_ir "
                                                      "[default: lresnet34e_ir at width 1/8 on digits, "
                                                      "lresnet50e_ir otherwise].")] = None,
    width: Annotated[float | None, typer.Option(min=0.01, help="Channel width multiplier.")] = None,
    input_size: Annotated[int | None, typer.Option("--input", min=16, help="Input side, a multiple of 16 "
                                                   "[default: 16 on digits, 112 otherwise].")] = None,
    embedding_size: Annotated[int | None, typer.Option(min=2, help="Embedding dimension.")] = None,
    margin: Annotated[float | None, typer.Option(help="Margin m [default: the loss's].")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    bins: Annotated[list[Path] | None, typer.Option("--bin", help="Verification .bin file(s) [default: the *.bin "
                                                    "beside the data; pairs from held-out identities without "
                                                    "any].")] = None,
    precision: Annotated[str, typer.Option(help="fp32 or bf16 (CPU autocast).")] = "fp32",
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a face backbone with a margin loss; verification accuracy ± std and TAR@FAR=1e-3 at the end."""
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.face.losses import LOSSES
    from nivalis.face.train import FaceConfig, standin_config, train_face

    loss = loss.strip().lower()
    if loss not in LOSSES:
        raise UserError(f"--loss must be one of {', '.join(LOSSES)} (got {loss!r})")
    if input_size is not None and input_size % 16:
        raise UserError(f"--input must be a multiple of 16 (got {input_size})")
    if precision not in ("fp32", "bf16"):
        raise UserError(f"--precision must be fp32 or bf16 (got {precision!r})")
    for b in bins or []:
        if not b.is_file():
            raise UserError(f"verification file not found: {b}")
    overrides = dict(loss=loss, epochs=epochs, seed=seed, backbone=backbone, width=width, input_size=input_size,
                     embedding_size=embedding_size, margin=margin, lr=lr, batch_size=batch_size, precision=precision,
                     device=device)
    if data == "digits":
        if bins:
            raise UserError("--bin is for face data; the digits stand-in verifies on its own pairs")
        cfg = standin_config(**overrides)
    else:
        if not Path(data).exists():
            raise UserError(f"face data not found: {data} (digits, a train.rec or a folder per identity)")
        cfg = FaceConfig(**{k: v for k, v in overrides.items() if v is not None})
    from nivalis.files import prepare_output_dir

    prepare_output_dir(out or Path("runs") / f"face-{loss}")  # before the training, not at its first checkpoint
    run = train_face(data, cfg, out or Path("runs") / f"face-{loss}", bins=bins or None, desc=f"face {loss}")
    r = run.result
    v = r["verification"]
    human = (f"checkpoint: {r['checkpoint']}\n{r['data']}\n"
             f"verification: accuracy {v['accuracy']:.4f} ± {v['accuracy_std']:.4f} ({v['folds']} folds, "
             f"{v['pairs']} pairs), TAR@FAR={v['far_target']:g}: {v['tar_at_far']:.4f}"
             + (f"\nnote: {r['note']}" if r.get("note") else ""))
    emit(r, as_json, human=human)


@app.command()
def verify(
    bin_file: Annotated[Path, typer.Option("--bin", help="insightface verification file (lfw.bin, cfp_fp.bin, "
                                                         "agedb_30.bin, ...).")],
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt from `nivalis face train`.")],
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    roc: Annotated[Path | None, typer.Option(help="Also write the ROC (threshold, fold-mean FPR and TPR) as CSV.")]
    = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """10-fold best-threshold accuracy ± std and TAR@FAR=1e-3 of a checkpoint on a .bin (image + flip embeddings)."""
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.face.train import verify_bin
    from nivalis.files import atomic_write_text

    if roc is not None and roc.suffix.lower() != ".csv":
        raise UserError(f"--roc must end in .csv (got {roc.name})")
    if roc is not None:
        from nivalis.files import prepare_output_file

        prepare_output_file(roc, option="--roc")
    result = verify_bin(bin_file, checkpoint, batch_size=batch_size)
    curve = result.pop("roc")
    result["bin"] = str(bin_file)
    if roc is not None:
        rows = [f"{t:.2f},{f:.6g},{p:.6g}" for t, f, p in zip(curve["thresholds"], curve["fpr"], curve["tpr"])]
        atomic_write_text(roc, "threshold,fpr,tpr\n" + "\n".join(rows) + "\n")
        result["roc"] = str(roc)
    human = (f"{bin_file}: accuracy {result['accuracy']:.4f} ± {result['accuracy_std']:.4f} ({result['folds']} folds, "
             f"{result['pairs']} pairs), TAR@FAR={result['far_target']:g}: {result['tar_at_far']:.4f} "
             f"(measured FAR {result['far']:.4f})"
             + ("\nnote: the checkpoint was trained on the digits stand-in, not faces" if result["stand_in"] else ""))
    emit(result, as_json, human=human)


@app.command()
def embed(
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, BMP).")],
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt from `nivalis face train`.")],
    out: Annotated[Path, typer.Option(help="Output: .npy (float32 [N, d]) or .csv (path, then d values per row).")]
    = Path("embeddings.npy"),
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Add the horizontal flip's embedding (insightface's "
                                                              "protocol) before normalising.")] = True,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """L2-normalised embeddings of images (one row per image, in the order given)."""
    setup(quiet)
    import numpy as np

    from nivalis.errors import UserError
    from nivalis.face.io import decode_image
    from nivalis.face.train import embed_images, load_face_model
    from nivalis.files import atomic_path

    if out.suffix.lower() not in (".npy", ".csv"):
        raise UserError(f"--out must end in .npy or .csv (got {out.name})")
    from nivalis.files import prepare_output_file

    prepare_output_file(out)  # before the model is loaded and the images embedded
    backbone, meta = load_face_model(checkpoint)
    decoded = []
    for path in images:
        if not path.is_file():
            raise UserError(f"image not found: {path}")
        decoded.append(decode_image(path.read_bytes(), str(path)))
    emb = embed_images(backbone, meta, decoded, flip=flip).numpy().astype(np.float32)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, emb)
        else:
            lines = [",".join(["path", *[f"e{i}" for i in range(emb.shape[1])]])]
            lines += [",".join([str(p), *[f"{v:.7g}" for v in row]]) for p, row in zip(images, emb)]
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    emit({"embeddings": str(out), "count": int(emb.shape[0]), "dim": int(emb.shape[1]), "flip": flip,
          "stand_in": bool(meta.get("stand_in", False))}, as_json)
