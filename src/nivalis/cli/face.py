"""`nivalis face`: train an IR backbone with a margin loss, verify on insightface `.bin` pairs, embed images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, ResumeOpt, emit, setup

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
    width: Annotated[float | None, typer.Option(help="Channel width multiplier, 0.01 to 8.")] = None,
    input_size: Annotated[int | None, typer.Option("--input", help="Input side, a multiple of 16 from 16 to 1024 "
                                                   "[default: 16 on digits, 112 otherwise].")] = None,
    embedding_size: Annotated[int | None, typer.Option(min=2, help="Embedding dimension.")] = None,
    margin: Annotated[float | None, typer.Option(help="Margin m: ArcFace [0, π/2), CosFace [0, 1] [default: the "
                                                      "loss's].")] = None,
    sample_rate: Annotated[float, typer.Option(help="Share of each rank's negative class centres scoring a step "
                                                    "(PartialFC; positives always), in (0, 1]. Under torchrun the "
                                                    "classifier is sharded by identity across ranks.")] = 1.0,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    bins: Annotated[list[Path] | None, typer.Option("--bin", help="Verification .bin file(s) [default: the *.bin "
                                                    "beside the data; pairs from held-out identities without "
                                                    "any].")] = None,
    precision: Annotated[str, typer.Option(help="fp32 or bf16 (CPU autocast).")] = "fp32",
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    arch: Annotated[Path | None, typer.Option(help="arch.json of `nivalis refine search` on an IR backbone: train "
                                                   "the backbone with the operators it found.")] = None,
    resume: ResumeOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a face backbone with a margin loss; verification accuracy ± std and TAR@FAR=1e-3 at the end."""
    setup(quiet)
    from nivalis.face.commands import train_from_options, train_text

    result = train_from_options(data, out=out, bins=bins, loss=loss, epochs=epochs, seed=seed, backbone=backbone,
                                width=width, input_size=input_size, embedding_size=embedding_size, margin=margin,
                                lr=lr, batch_size=batch_size, precision=precision, device=device,
                                sample_rate=sample_rate, arch=arch, resume=resume)
    emit(result, as_json, human=train_text(result))


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
    from nivalis.face.commands import verify_file, verify_text

    result = verify_file(bin_file, checkpoint, batch_size=batch_size, roc=roc)
    emit(result, as_json, human=verify_text(result))


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
    from nivalis.face.commands import embed_files

    emit(embed_files(images, checkpoint, out=out, flip=flip), as_json)
