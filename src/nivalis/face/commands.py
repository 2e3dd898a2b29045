"""Each `nivalis face` command as one Python function (its checks, its files, its result) and the text it prints.

`train_from_options` checks the settings and trains (`nivalis.face.train.train_face`), `verify_file` scores a
checkpoint on an insightface `.bin` and can write the ROC as CSV, `embed_files` writes the embeddings of image
files as `.npy` or `.csv`. Every user mistake is a `UserError` raised before the model or the data are read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nivalis.errors import UserError
from nivalis.face.io import decode_image
from nivalis.face.losses import LOSSES, check_margin
from nivalis.face.train import (
    STANDIN_IMAGES,
    FaceConfig,
    embed_images,
    load_face_model,
    standin_config,
    train_face,
    verify_bin,
)
from nivalis.face.verify import roc_csv
from nivalis.files import atomic_path, atomic_write_text, prepare_output_dir, prepare_output_file

PRECISIONS = ("fp32", "bf16")
EMBEDDING_SUFFIXES = (".npy", ".csv")
#: option ranges checked before anything is built: (low, high) inclusive
RANGES = {"width": (0.01, 8.0), "input_size": (16, 1024), "embedding_size": (2, 8192), "batch_size": (1, 65536)}
_OPTION = {"input_size": "--input", "embedding_size": "--embedding-size", "batch_size": "--batch-size"}


def _check_ranges(settings: dict[str, Any]) -> None:
    for key, (low, high) in RANGES.items():
        value = settings.get(key)
        if value is not None and not low <= value <= high:
            raise UserError(f"{_OPTION.get(key, '--' + key)} must be in [{low:g}, {high:g}] (got {value:g})")


def check_memory(cfg: FaceConfig, in_chans: int, images_in_memory: int = 0) -> int:
    """Refuse in one line, before anything is allocated, a run whose estimate exceeds this machine's memory:
    weights ×4 (weights, gradients, two optimizer moments), `images_in_memory` float32 inputs and, when training
    on the CPU, every forward output of a sample (an upper bound of what the backward pass keeps) × batch.
    Returns the estimate in bytes."""
    from nivalis.profile.meta import build_meta, machine_memory_bytes, memory_bytes

    # the published backbone bounds a NAR variant's: its operators hold no more than the 3×3 convs they replace
    model = build_meta(cfg.backbone, **{k: v for k, v in cfg.backbone_kwargs(in_chans).items() if k != "ops"})
    weights = 4 * sum(p.numel() for p in model.parameters())
    pixels = in_chans * cfg.input_size ** 2 * 4
    need = 4 * weights + images_in_memory * pixels
    if cfg.device == "cpu":
        activations = memory_bytes(model, (in_chans, cfg.input_size, cfg.input_size)) - weights
        need += cfg.batch_size * (activations + pixels)
    have = machine_memory_bytes()
    if need > have:
        raise UserError(f"face train: {cfg.backbone} at width {cfg.width:g}, input {cfg.input_size}, batch "
                        f"{cfg.batch_size} needs about {need / 2**30:,.1f} GiB, more than this machine's "
                        f"{have / 2**30:.0f} GiB (lower --input, --width or --batch-size)")
    return need


def _arch_settings(path: str | os.PathLike, backbone: str | None) -> dict[str, Any]:
    """`backbone` and `ops` from a `refine search` arch.json (its backbone must be an IR net, and `backbone`'s)."""
    from nivalis.nas.retrain import load_arch

    spec = load_arch(path)
    if not str(spec["backbone"]).startswith("lresnet"):
        raise UserError(f"{path} refines {spec['backbone']}, not a face backbone (lresnet34e_ir, lresnet50e_ir, "
                        "lresnet100e_ir)")
    if backbone is not None and backbone != spec["backbone"]:
        raise UserError(f"--backbone {backbone} differs from {path}'s {spec['backbone']}")
    return {"backbone": spec["backbone"], "ops": tuple(int(op) for op in spec["arch"])}


def train_config(data: str | os.PathLike = "digits", *, bins: Sequence[Path] | None = None, loss: str = "arcface",
                 input_size: int | None = None, precision: str = "fp32", **settings: Any) -> FaceConfig:
    """The `FaceConfig` of a run on `data`: the stand-in's CPU-sized setting on `digits` (`standin_config`),
    insightface's otherwise; settings left `None` keep those defaults."""
    loss = loss.strip().lower()
    if loss not in LOSSES:
        raise UserError(f"--loss must be one of {', '.join(LOSSES)} (got {loss!r})")
    _check_ranges({"input_size": input_size, **settings})
    if input_size is not None and input_size % 16:
        raise UserError(f"--input must be a multiple of 16 (got {input_size})")
    rate = settings.get("sample_rate")
    if rate is not None and not 0.0 < rate <= 1.0:
        raise UserError(f"--sample-rate must be in (0, 1] (got {rate:g})")
    if precision not in PRECISIONS:
        raise UserError(f"--precision must be fp32 or bf16 (got {precision!r})")
    for b in bins or []:
        if not Path(b).is_file():
            raise UserError(f"verification file not found: {b}")
    arch = settings.pop("arch", None)
    if arch is not None:
        settings.update(_arch_settings(arch, settings.get("backbone")))
    overrides = dict(loss=loss, input_size=input_size, precision=precision, **settings)
    if str(data) == "digits":
        if bins:
            raise UserError("--bin is for face data; the digits stand-in verifies on its own pairs")
        cfg = standin_config(**overrides)
    elif not Path(data).exists():
        raise UserError(f"face data not found: {data} (digits, a train.rec or a folder per identity)")
    else:
        cfg = FaceConfig(**{k: v for k, v in overrides.items() if v is not None})
    check_margin(cfg.loss, cfg.scale, cfg.margin)
    stand_in = str(data) == "digits"
    check_memory(cfg, 1 if stand_in else 3, images_in_memory=STANDIN_IMAGES if stand_in else 0)
    return cfg


def train_from_options(data: str | os.PathLike = "digits", *, out: str | os.PathLike | None = None,
                       bins: Sequence[Path] | None = None, resume: bool = False, **settings: Any) -> dict[str, Any]:
    """Train with `train_config(data, bins=bins, **settings)` into `out` (default `runs/face-LOSS`); the result
    of `train_face` (checkpoint, verification on the `.bin` files or held-out pairs, ...)."""
    cfg = train_config(data, bins=bins, **settings)
    out = Path(out) if out is not None else Path("runs") / f"face-{cfg.loss}"
    prepare_output_dir(out)  # before the training, not at its first checkpoint
    return train_face(data, cfg, out, bins=list(bins) if bins else None, desc=f"face {cfg.loss}",
                      resume=resume).result


def train_text(result: dict[str, Any]) -> str:
    """A `train_from_options` result: checkpoint, data, verification accuracy ± std and TAR@FAR."""
    v = result["verification"]
    return (f"checkpoint: {result['checkpoint']}\n{result['data']}\n"
            f"verification: accuracy {v['accuracy']:.4f} ± {v['accuracy_std']:.4f} ({v['folds']} folds, "
            f"{v['pairs']} pairs), TAR@FAR={v['far_target']:g}: {v['tar_at_far']:.4f}"
            + (f"\nnote: {result['note']}" if result.get("note") else ""))


def verify_file(bin_file: str | os.PathLike, checkpoint: str | os.PathLike, *, batch_size: int = 128,
                roc: str | os.PathLike | None = None) -> dict[str, Any]:
    """`verify_bin`'s metrics without the ROC arrays, plus `bin`; with `roc` (a `.csv`), the ROC written there
    (threshold, fold-mean FPR and TPR) and its path under `roc`."""
    if roc is not None:
        roc = Path(roc)
        if roc.suffix.lower() != ".csv":
            raise UserError(f"--roc must end in .csv (got {roc.name})")
        prepare_output_file(roc, option="--roc")
    result = verify_bin(bin_file, checkpoint, batch_size=batch_size)
    curve = result.pop("roc")
    result["bin"] = str(bin_file)
    if roc is not None:
        atomic_write_text(roc, roc_csv(curve))
        result["roc"] = str(roc)
    return result


def verify_text(result: dict[str, Any]) -> str:
    """A `verify_file` result in one line (and whether the checkpoint was trained on the stand-in)."""
    return (f"{result['bin']}: accuracy {result['accuracy']:.4f} ± {result['accuracy_std']:.4f} ({result['folds']} "
            f"folds, {result['pairs']} pairs), TAR@FAR={result['far_target']:g}: {result['tar_at_far']:.4f} "
            f"(measured FAR {result['far']:.4f})"
            + ("\nnote: the checkpoint was trained on the digits stand-in, not faces" if result["stand_in"] else ""))


def embed_files(images: Sequence[str | os.PathLike], checkpoint: str | os.PathLike, *,
                out: str | os.PathLike = "embeddings.npy", flip: bool = True) -> dict[str, Any]:
    """L2-normalised embeddings of image files, one row each in the order given, written to `out`: `.npy`
    (float32 [N, d]) or `.csv` (the path, then d values per row)."""
    out = Path(out)
    if out.suffix.lower() not in EMBEDDING_SUFFIXES:
        raise UserError(f"--out must end in .npy or .csv (got {out.name})")
    prepare_output_file(out)  # before the model is loaded and the images embedded
    backbone, meta = load_face_model(checkpoint)
    decoded = []
    for path in map(Path, images):
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
    return {"embeddings": str(out), "count": int(emb.shape[0]), "dim": int(emb.shape[1]), "flip": flip,
            "stand_in": bool(meta.get("stand_in", False))}


__all__ = ["check_memory", "embed_files", "train_config", "train_from_options", "train_text", "verify_file", "verify_text"]
