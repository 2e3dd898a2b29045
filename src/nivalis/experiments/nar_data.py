"""The data a NAR search, retraining or ablation runs on, from one `--data` spec: the one resolver they all use.

- `digits`, `cifar10`, `svhn`, `gtsrb`: the classification readers (`nivalis.data`, `--data-dir` where needed);
  `image_size` resizes digits (its reader's option).
- `face:DIR`: seed 004 §4.1.1's proxy (`nivalis.face.proxy.face_proxy`): `identities` identities × 40 images,
  36 to train and 4 held out per identity. The search draws its own proxy (reward) split from the 36
  training images only (`face_proxy_split`: 32 + 4 per identity); the 4 held-out images per identity are
  the test split of a retraining (`val` and `test` are the same images: nivalis's retraining keeps the
  last epoch's weights, it never selects on `val`).
- `avalanche:DIR`: the avalanche window classifier's task on a scene folder as `nivalis avalanche train`
  reads it (images/ + masks/): class-balanced windows around pixels (`WindowStream`, seed 002 §3.2),
  standardised per band with the training scenes' statistics (`radiometry`, `WindowClassifier.prepare`),
  label = avalanche at the centre pixel (2 classes). Train/val/test are split by scene
  (`split_scenes`) when there are 3 or more scenes; with fewer, the three parts are disjoint draws of
  windows from the same scenes (their pixels overlap), and `note` says so.

`resolve_data(spec, ...)` returns the data and the options to write into `arch.json` (`data_options`), so
`nivalis refine retrain ARCH` rebuilds the same data from the recorded `data` spec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from nivalis.data import ClassificationData, load_classification
from nivalis.errors import UserError

PREFIXES = ("avalanche", "face")
#: windows drawn for the avalanche task's training split (val and test get a quarter each)
AVALANCHE_WINDOWS = 2048
FACE_SIZE = 112                  # §4.1.1 / ArcFace: 112 × 112 aligned faces
FACE_PER_IDENTITY = 40           # §4.1.1: 40 images per identity, 36 train + 4 validation
FACE_TRAIN_PER_IDENTITY = 36
MIN_IDENTITIES = 2


@dataclass
class ResolvedData:
    data: ClassificationData
    options: dict[str, Any] = field(default_factory=dict)   # what rebuilds it: written to arch.json
    note: str | None = None

    @property
    def kind(self) -> str:
        return self.data.name.split(":", 1)[0] if ":" in self.data.name else self.data.name


def data_kind(spec: str) -> str:
    """`face` for `face:DIR`, ..., the name itself for a plain data set; unknown prefixes are a user error."""
    if ":" not in spec:
        return spec
    prefix = spec.split(":", 1)[0]
    if prefix not in PREFIXES:
        raise UserError(f"unknown data prefix {prefix!r} in --data {spec}: use avalanche:DIR or face:DIR "
                        "(or a data set name such as digits)")
    return prefix


def data_slug(spec: str) -> str:
    """A folder-name-safe label of a spec: `digits`, `face-NAME`, `avalanche-NAME`."""
    kind = data_kind(spec)
    if kind == spec:
        return spec
    return f"{kind}-{Path(spec.split(':', 1)[1]).expanduser().resolve().name or 'root'}"


def face_proxy_split() -> dict[str, int]:
    """The search's proxy on `face:DIR` data: all 36 training images per identity, 4 of them for rewards."""
    return {"proxy_per_class": FACE_TRAIN_PER_IDENTITY, "proxy_val_per_class": FACE_PER_IDENTITY
            - FACE_TRAIN_PER_IDENTITY}


def resolve_data(spec: str, data_dir: str | Path | None = None, *, image_size: int | None = None,
                 identities: int | None = None, windows: int | None = None) -> ResolvedData:
    """Data of a `--data` spec (see the module docstring); `options` holds only what was used."""
    kind = data_kind(spec)
    if kind == spec:
        if image_size is None:
            return ResolvedData(load_classification(spec, data_dir))
        if spec != "digits":
            raise UserError(f"--image-size resizes digits, face:DIR and avalanche:DIR data, not {spec!r}")
        return ResolvedData(load_classification(spec, data_dir, image_size=image_size), {"image_size": image_size})
    raw = spec.split(":", 1)[1]
    if not raw:
        raise UserError(f"--data {spec}: give a folder after '{kind}:'")
    root = Path(raw).expanduser().resolve()
    if not root.exists():
        raise UserError(f"--data {spec}: folder not found: {root}")
    if kind == "face":
        return _face(root, identities, image_size or FACE_SIZE)
    return _avalanche(root, image_size, windows or AVALANCHE_WINDOWS)


def _face(root: Path, identities: int | None, size: int) -> ResolvedData:
    from nivalis.face.io import open_face_data
    from nivalis.face.proxy import face_proxy

    labels = open_face_data(root).labels
    _, counts = np.unique(labels, return_counts=True)
    eligible = int((counts >= FACE_PER_IDENTITY).sum())
    n = eligible if identities is None else identities
    if n < MIN_IDENTITIES or eligible < n:
        raise UserError(f"face:{root}: {eligible} identit{'y has' if eligible == 1 else 'ies have'} "
                        f"{FACE_PER_IDENTITY}+ images; the proxy (seed 004 §4.1.1) needs "
                        f"{max(n, MIN_IDENTITIES)}" + ("" if identities is None else " (--identities)"))
    data = face_proxy(root, identities=n, per_identity=FACE_PER_IDENTITY,
                      train_per_identity=FACE_TRAIN_PER_IDENTITY, input_size=size, seed=0)
    data.name = f"face:{root}"
    note = (f"face proxy: {n} identities x {FACE_PER_IDENTITY} images at {size}x{size}; retraining tests on the "
            f"{FACE_PER_IDENTITY - FACE_TRAIN_PER_IDENTITY} held-out images per identity (val = test)")
    return ResolvedData(data, {"identities": n, "image_size": size}, note)


def _windows(stream) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for x, y in stream:
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys).to(torch.int64)


def _avalanche(root: Path, window: int | None, windows: int) -> ResolvedData:
    from nivalis.avalanche.config import AvalancheConfig
    from nivalis.avalanche.io import fill_scene, load_scenes
    from nivalis.avalanche.models import WindowClassifier
    from nivalis.avalanche.train import SceneSplit, radiometry, split_scenes
    from nivalis.avalanche.windows import WindowStream

    cfg = AvalancheConfig()
    window = int(window or cfg.window)
    if window < 3:
        raise UserError(f"--image-size (the window side) must be at least 3 px for avalanche data, got {window}")
    if windows < 16:
        raise UserError(f"--windows must be at least 16, got {windows}")
    scenes = load_scenes(root, threshold=cfg.mask_threshold)
    if not scenes:
        raise UserError(f"avalanche:{root}: no scenes (expected images/ and masks/, as `nivalis avalanche train`)")
    bands = sorted({s.channels for s in scenes})
    if len(bands) > 1:
        raise UserError(f"avalanche:{root}: the scenes have different band counts ({bands})")
    channels = bands[0]
    notes = []
    by_scene = len(scenes) >= 3
    split = split_scenes(scenes, cfg.split, cfg.seed) if by_scene else SceneSplit(scenes, scenes, scenes)
    if not by_scene:
        notes.append(f"{len(scenes)} scene(s) (< 3): train/val/test are disjoint draws of windows from the same "
                     "scenes, their pixels overlap, so test accuracy is optimistic")
    radio = radiometry(split.train, channels)
    split = SceneSplit(*[[fill_scene(s, radio["mean"], radio["scale"]) for s in getattr(split, k)]
                         for k in ("train", "val", "test")])
    # the avalanche classifier's own input convention: scale, then the training scenes' per-band mean and std
    prepare = WindowClassifier(torch.nn.Identity(), "nar-proxy", window, channels, radio["mean"], radio["std"],
                               dtype=radio["dtype"]).prepare
    n_eval = max(8, windows // 4)

    def has_positive(part: list) -> bool:
        return any(s.avalanche_mask.any() for s in part)

    def stream(part: list, n: int, seed: int) -> WindowStream:
        return WindowStream(part, window, channels, n, prepare=prepare, positive_fraction=cfg.positive_fraction,
                            seed=seed, fixed=True)

    if by_scene:
        val_scenes, test_scenes = split.val, split.test
        # as `avalanche train`: a held-out part without any avalanche pixel falls back (and says so)
        if not has_positive(val_scenes):
            val_scenes = split.train
            notes.append("no avalanche in the validation scenes: validation windows come from the training scenes")
        if not has_positive(test_scenes):
            test_scenes = val_scenes
            notes.append("no avalanche in the test scenes: test windows come from the validation scenes")
        x_tr, y_tr = _windows(stream(split.train, windows, cfg.seed))
        x_va, y_va = _windows(stream(val_scenes, n_eval, cfg.seed + 1))
        x_te, y_te = _windows(stream(test_scenes, n_eval, cfg.seed + 2))
    else:
        x, y = _windows(stream(split.train, windows + 2 * n_eval, cfg.seed))
        x_tr, y_tr = x[:windows], y[:windows]
        x_va, y_va = x[windows:windows + n_eval], y[windows:windows + n_eval]
        x_te, y_te = x[windows + n_eval:], y[windows + n_eval:]
    data = ClassificationData(name=f"avalanche:{root}", train=TensorDataset(x_tr, y_tr),
                              val=TensorDataset(x_va, y_va), test=TensorDataset(x_te, y_te), num_classes=2,
                              in_chans=channels, image_size=window, class_names=["no avalanche", "avalanche"])
    split_note = (f"split by scene: {len(split.train)} train, {len(split.val)} val, {len(split.test)} test scenes"
                  if by_scene else None)
    note = "; ".join([f"avalanche windows {window}x{window}x{channels}", *([split_note] if split_note else []),
                      *notes])
    return ResolvedData(data, {"image_size": window, "windows": windows}, note)


def record_data_options(arch_file: str | Path, resolved: ResolvedData) -> None:
    """Add `data_options` (and the data note) to an `arch.json`, so a retraining rebuilds the same data."""
    from nivalis.files import atomic_write_text

    path = Path(arch_file)
    spec = json.loads(path.read_text())
    spec["data_options"] = resolved.options
    if resolved.note:
        spec["data_note"] = resolved.note
    atomic_write_text(path, json.dumps(spec, indent=2))


__all__ = ["PREFIXES", "ResolvedData", "data_kind", "data_slug", "face_proxy_split", "record_data_options",
           "resolve_data"]
