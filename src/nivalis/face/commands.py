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
from nivalis.face.losses import LOSSES
from nivalis.face.train import FaceConfig, embed_images, load_face_model, standin_config, train_face, verify_bin
from nivalis.face.verify import roc_csv
from nivalis.files import atomic_path, atomic_write_text, prepare_output_dir, prepare_output_file

PRECISIONS = ("fp32", "bf16")
EMBEDDING_SUFFIXES = (".npy", ".csv")


def train_config(data: str | os.PathLike = "digits", *, bins: Sequence[Path] | None = None, loss: str = "arcface",
                 input_size: int | None = None, precision: str = "fp32", **settings: Any) -> FaceConfig:
    """The `FaceConfig` of a run on `data`: the stand-in's CPU-sized setting on `digits` (`standin_config`),
    insightface's otherwise; settings left `None` keep those defaults."""
    loss = loss.strip().lower()
    if loss not in LOSSES:
        raise UserError(f"--loss must be one of {', '.join(LOSSES)} (got {loss!r})")
    if input_size is not None and input_size % 16:
        raise UserError(f"--input must be a multiple of 16 (got {input_size})")
    if precision not in PRECISIONS:
        raise UserError(f"--precision must be fp32 or bf16 (got {precision!r})")
    for b in bins or []:
        if not Path(b).is_file():
            raise UserError(f"verification file not found: {b}")
    overrides = dict(loss=loss, input_size=input_size, precision=precision, **settings)
    if str(data) == "digits":
        if bins:
            raise UserError("--bin is for face data; the digits stand-in verifies on its own pairs")
        return standin_config(**overrides)
    if not Path(data).exists():
        raise UserError(f"face data not found: {data} (digits, a train.rec or a folder per identity)")
    return FaceConfig(**{k: v for k, v in overrides.items() if v is not None})


def train_from_options(data: str | os.PathLike = "digits", *, out: str | os.PathLike | None = None,
                       bins: Sequence[Path] | None = None, **settings: Any) -> dict[str, Any]:
    """Train with `train_config(data, bins=bins, **settings)` into `out` (default `runs/face-LOSS`); the result
    of `train_face` (checkpoint, verification on the `.bin` files or held-out pairs, ...)."""
    cfg = train_config(data, bins=bins, **settings)
    out = Path(out) if out is not None else Path("runs") / f"face-{cfg.loss}"
    prepare_output_dir(out)  # before the training, not at its first checkpoint
    return train_face(data, cfg, out, bins=list(bins) if bins else None, desc=f"face {cfg.loss}").result


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


__all__ = ["embed_files", "train_config", "train_from_options", "train_text", "verify_file", "verify_text"]
