"""Train any zoo model on an image-classification data set and test it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import ForceOpt, JsonOpt, QuietOpt, ResumeOpt, emit, setup


def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name (see `nivalis zoo list`).")],
    data: Annotated[str, typer.Option(help="digits (embedded), cifar10, svhn or gtsrb.")] = "digits",
    data_dir: Annotated[Path | None, typer.Option(help="Directory holding the data set in its real format.")] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch the official cifar10/svhn/gtsrb archives into "
                                                              "--data-dir first (MD5-checked; needs network).")] = False,
    block: Annotated[str | None, typer.Option(help="Swap the model's 3×3 convolutions for this block (effnet, "
                                                   "effnet_v2_e4, mobilenet, shufflenet, mobilenetv2_e6, mob_imp; "
                                                   "seed 003).")] = None,
    pretrained: Annotated[Path | None, typer.Option(
        help="Start from these weights: torchvision .pth, timm .pth/.safetensors or a nivalis checkpoint (local "
             "file; the class layer is re-initialised when the classes differ).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 15,
    seed: Annotated[int, typer.Option(help="Seed for weights, shuffling and dropout.")] = 0,
    # defaults are nivalis.engine.classify.DIGITS_RECIPE (literal here so --help needs no torch import)
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (cosine decay to 0).")] = 3e-3,
    scheduler: Annotated[str, typer.Option(help="cosine, step or none.")] = "cosine",
    optimizer: Annotated[str, typer.Option(help="adam, adamw, sgd or rmsprop.")] = "adam",
    precision: Annotated[str, typer.Option(help="fp32, or bf16 (CPU autocast; faster, check the metric).")] = "fp32",
    out: Annotated[Path | None, typer.Option(help="Output directory [default: runs/MODEL-DATA].")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a zoo model on images (checkpoint every epoch; torchrun for several processes)."""
    setup(quiet)
    from nivalis.engine import TrainConfig
    from nivalis.engine.classify import train_zoo_model

    cfg = TrainConfig(epochs=epochs, seed=seed, batch_size=batch_size, lr=lr, optimizer=optimizer, precision=precision,
                      scheduler=scheduler)
    run = train_zoo_model(model, data, data_dir=data_dir, download=download, config=cfg, out_dir=out, block=block,
                          pretrained=pretrained, resume=resume, force=force)
    emit(run.result, as_json)
