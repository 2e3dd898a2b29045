"""Train an IR face backbone with a margin head through the engine's `fit`, then verify on pairs.

The model that `fit` trains is `FaceModel`: the backbone (embedding only) and the margin head
(`nivalis.face.losses`); a training batch is `((images, labels), labels)` so the head sees the labels
and the task is plain cross-entropy on its logits. The checkpoint's meta names the backbone and its
keyword arguments, so `load_face_model` rebuilds the embedder alone.

Data: `digits` (the embedded stand-in, see `standin_data`), a RecordIO `train.rec`, or a folder per
identity. Verification at the end: the `.bin` files beside the training data (insightface's
`faces_emore` layout puts `lfw.bin`, `cfp_fp.bin`, `agedb_30.bin` next to `train.rec`) or given
explicitly; without any, LFW-style pairs are drawn from identities held out of training.

**The stand-in is not face data.** `digits` holds 1,797 8×8 handwritten digits in 10 classes; each
class plays an identity. Digits 0–6 are the training identities: 70 % of their images train, 10 %
validate the classifier, 20 % are held out. The verification pairs are drawn over images never trained
on: the held-out 20 % of identities 0–6 and every image of identities 7–9, which training never sees
(an open-set part, as face verification is; with three unseen classes alone the pairs would test little
more than three confusions). Pairs are drawn as LFW's View 2 draws them: 10 folds, each 300
same-identity and 300 different-identity pairs, no pair twice; unlike LFW, ten identities cannot be kept
apart across folds. Images are upsampled to 16×16 (not 112×112; the digits have 8×8 pixels) and the
backbone is LResNet34E-IR at an eighth of its width, so it trains on a CPU.

Why one module of this size: the config, the stand-in data and the training loop around the engine are one
recipe whose defaults refer to each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from nivalis.config import ConfigDict
from nivalis.engine.checkpoint import load_checkpoint, save_checkpoint
from nivalis.engine.distributed import get_context
from nivalis.engine.fit import TrainConfig, fit
from nivalis.engine.metrics import classification_task
from nivalis.engine.records import write_run_files
from nivalis.engine.seed import seed_everything
from nivalis.errors import UserError
from nivalis.face.io import FaceFolder, RecordIO, VerificationPairs, load_bin, open_face_data
from nivalis.face.losses import MarginHead, build_head
from nivalis.face.verify import embed_with_flip, evaluate_pairs

__all__ = [
    "STANDIN_NOTE", "FaceConfig", "FaceModel", "FaceRun", "draw_pairs", "embed_images", "load_face_model",
    "standin_config", "standin_data", "to_input", "train_face", "verify_bin",
]

STANDIN_NOTE = ("stand-in, not faces: identities are scikit-learn digits classes (train 0-6, verify on unseen 7-9), "
                "images 16x16")
STANDIN_IMAGES = 1797  # scikit-learn's digits, all held in memory as inputs
STANDIN_TRAIN_IDS = tuple(range(7))
STANDIN_TEST_IDS = (7, 8, 9)
#: share of each training identity's images kept out of training for the verification pairs
STANDIN_HELD_OUT = 0.2


@dataclass
class FaceConfig(ConfigDict):
    """Backbone, margin and optimisation of a face run (defaults: insightface's setting at 112×112)."""

    backbone: str = "lresnet50e_ir"
    width: float = 1.0
    input_size: int = 112
    embedding_size: int = 512
    loss: str = "arcface"  # arcface | cosface | softmax
    scale: float = 64.0
    margin: float | None = None  # None: the loss's own (0.5 ArcFace, 0.35 CosFace)
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.1
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    scheduler: str = "cosine"
    seed: int = 0
    precision: str = "fp32"
    device: str = "cpu"
    pairs_per_fold: int = 300  # LFW View 2: 300 same + 300 different pairs in each of 10 folds
    val_fraction: float = 0.1
    flip: bool = True  # random horizontal flips in training (insightface's augmentation)
    sample_rate: float = 1.0  # share of negative class centres scoring each step (PartialFC; positives always)
    # NAR operator codes in the backbone's 3×3 slots (a `refine search` result's `arch`); None: as published
    ops: tuple[int, ...] | None = None

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
                           weight_decay=self.weight_decay, scheduler=self.scheduler, seed=self.seed,
                           precision=self.precision, device=self.device, grad_clip=5.0)

    def backbone_kwargs(self, in_chans: int) -> dict[str, Any]:
        kwargs = {"in_chans": in_chans, "input_size": self.input_size, "embedding_size": self.embedding_size,
                  "width_mult": self.width}
        return kwargs | ({"ops": [int(op) for op in self.ops]} if self.ops is not None else {})


def standin_config(**overrides) -> FaceConfig:
    """The stand-in's CPU-sized setting: LResNet34E-IR at width 1/8, 16×16 inputs, 128-d embeddings, Adam."""
    base = dict(backbone="lresnet34e_ir", width=0.125, input_size=16, embedding_size=128, epochs=8, batch_size=64,
                lr=3e-3, optimizer="adam", weight_decay=5e-4, scheduler="cosine")
    return FaceConfig(**(base | {k: v for k, v in overrides.items() if v is not None}))


class FaceModel(nn.Module):
    """Backbone (image → embedding) and margin head (embedding, label → logits), trained together."""

    def __init__(self, backbone: nn.Module, head: MarginHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.backbone(x), labels)


# ------------------------------------------------------------------------------------------------ data

def to_input(images: np.ndarray | list[np.ndarray], input_size: int, in_chans: int) -> torch.Tensor:
    """uint8 images (H, W) or (H, W, 3) RGB → float (N, in_chans, S, S), as insightface scales: (x − 127.5) / 127.5."""
    out = []
    for im in images:
        im = np.asarray(im)
        if im.ndim == 3 and im.shape[2] == 1:
            im = im[:, :, 0]
        if im.shape[:2] != (input_size, input_size):
            im = cv2.resize(im, (input_size, input_size), interpolation=cv2.INTER_LINEAR)
        if in_chans == 1 and im.ndim == 3:
            im = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)
        elif in_chans == 3 and im.ndim == 2:
            im = np.repeat(im[:, :, None], 3, axis=2)
        out.append(im if im.ndim == 3 else im[:, :, None])
    if not out:
        raise UserError("no images")
    # NCHW strides, not a channels-last view (see `nivalis.engine.fit._to` for the torch bug it would hit). A copy,
    # not np.ascontiguousarray: with one channel the transposed view already counts as contiguous and would keep
    # its channel stride of 1, which torch takes for channels-last
    x = torch.from_numpy(np.stack(out).transpose(0, 3, 1, 2).copy(order="C")).float()
    return (x - 127.5) / 127.5


class TensorFaces(Dataset):
    """In-memory inputs (N, C, S, S) and labels → `((x, label), label)`, randomly flipped when `flip`."""

    def __init__(self, x: torch.Tensor, labels: torch.Tensor, flip: bool = False):
        self.x, self.labels, self.flip = x, labels, flip

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x, y = self.x[i], self.labels[i]
        if self.flip and torch.rand(()) < 0.5:
            x = torch.flip(x, dims=[2])
        return (x, y), y


class SourceFaces(Dataset):
    """Images decoded on demand from a RecordIO file or a face folder; same items as `TensorFaces`."""

    def __init__(self, source: RecordIO | FaceFolder, indices: np.ndarray, labels: np.ndarray, input_size: int,
                 in_chans: int, flip: bool = False):
        self.source, self.indices, self.flip = source, indices, flip
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        self.input_size, self.in_chans = input_size, in_chans

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        x = to_input([self.source.image(int(self.indices[i]))], self.input_size, self.in_chans)[0]
        if self.flip and torch.rand(()) < 0.5:
            x = torch.flip(x, dims=[2])
        return (x, self.labels[i]), self.labels[i]


def draw_pairs(labels: np.ndarray, folds: int = 10, per_fold: int = 300,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """LFW View 2-style pairs over items with identity `labels`: `folds` blocks of `per_fold` same then `per_fold`
    different pairs, no pair drawn twice → (pairs (P, 2) item indices, issame (P,) bool)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    groups = {k: np.flatnonzero(labels == k) for k in np.unique(labels)}
    multi = [k for k, g in groups.items() if len(g) >= 2]
    if not multi or len(groups) < 2:
        raise UserError(f"pairs need two identities, one with two images (have {len(groups)} identities)")
    n_same = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
    if n_same < folds * per_fold:
        raise UserError(f"only {n_same} distinct same-identity pairs for {folds}×{per_fold}")
    seen: set[tuple[int, int]] = set()

    def take(same: bool) -> tuple[int, int]:
        while True:
            if same:
                g = groups[multi[rng.integers(len(multi))]]
                a, b = rng.choice(g, 2, replace=False)
            else:
                ka, kb = rng.choice(list(groups), 2, replace=False)
                a, b = rng.choice(groups[ka]), rng.choice(groups[kb])
            key = (int(min(a, b)), int(max(a, b)))
            if key not in seen:
                seen.add(key)
                return int(a), int(b)

    pairs, issame = [], []
    for _ in range(folds):
        for same in (True, False):
            pairs += [take(same) for _ in range(per_fold)]
            issame += [same] * per_fold
    return np.array(pairs, dtype=np.int64), np.array(issame, dtype=bool)


@dataclass
class FaceData:
    """Training and validation sets, number of identities, and the verification sets (name → pairs)."""

    train: Dataset
    val: Dataset | None
    num_classes: int
    in_chans: int
    verification: dict[str, tuple[torch.Tensor, np.ndarray, np.ndarray]] = field(default_factory=dict)
    description: str = ""
    stand_in: bool = False


def _holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, val = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_val = int(round(fraction * len(idx))) if len(idx) > 1 else 0
        val += list(idx[:n_val])
        train += list(idx[n_val:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(val, dtype=np.int64))


def standin_data(cfg: FaceConfig) -> FaceData:
    """The embedded stand-in (not faces): digits 0–6 train, pairs over unseen images and identities."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = np.clip(raw.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    x = to_input(images, cfg.input_size, 1)
    y = raw.target.astype(np.int64)
    seen = np.flatnonzero(np.isin(y, STANDIN_TRAIN_IDS))
    rest, held = _holdout(y[seen], STANDIN_HELD_OUT, seed=0)
    tr, va = _holdout(y[seen][rest], cfg.val_fraction / (1 - STANDIN_HELD_OUT), seed=1)
    train_idx, val_idx = seen[rest][tr], seen[rest][va]
    test = np.sort(np.concatenate([seen[held], np.flatnonzero(np.isin(y, STANDIN_TEST_IDS))]))
    pairs, issame = draw_pairs(y[test], per_fold=cfg.pairs_per_fold, seed=0)
    yt = torch.as_tensor(y)
    return FaceData(train=TensorFaces(x[train_idx], yt[train_idx], flip=cfg.flip),
                    val=TensorFaces(x[val_idx], yt[val_idx]), num_classes=len(STANDIN_TRAIN_IDS), in_chans=1,
                    verification={"digits": (x[test], pairs, issame)},
                    description=f"digits stand-in (not faces): {len(train_idx)} train / {len(val_idx)} validation "
                                f"images of identities 0-6; {len(issame)} pairs over {len(test)} unseen images "
                                f"({len(held)} of identities 0-6, {len(test) - len(held)} of the unseen 7-9)",
                    stand_in=True)


def _pairs_from_bin(vp: VerificationPairs, cfg: FaceConfig, in_chans: int):
    x = to_input(vp.images, cfg.input_size, in_chans)
    pairs = np.arange(2 * len(vp.issame)).reshape(-1, 2)
    return x, pairs, vp.issame


def folder_data(path: Path, cfg: FaceConfig, bins: list[Path] | None = None) -> FaceData:
    """RecordIO or face-folder training data; verification on `bins` (default: the `*.bin` beside the data)."""
    source = open_face_data(path)
    labels = source.labels
    root = path if path.is_dir() else path.parent
    bins = list(bins) if bins is not None else sorted(root.glob("*.bin"))
    verification: dict[str, tuple[torch.Tensor, np.ndarray, np.ndarray]] = {}
    ids = np.unique(labels)
    if bins:
        train_ids = ids
        for b in bins:
            verification[b.stem] = _pairs_from_bin(load_bin(b), cfg, 3)
    else:  # hold identities out for LFW-style pairs
        rng = np.random.default_rng(0)
        n_test = max(2, int(round(0.1 * len(ids))))
        if len(ids) - n_test < 2:
            raise UserError(f"{path}: {len(ids)} identities are too few to hold some out for verification "
                            "(give --bin FILE.bin)")
        test_ids = rng.choice(ids, n_test, replace=False)
        train_ids = np.setdiff1d(ids, test_ids)
        test = np.flatnonzero(np.isin(labels, test_ids))
        n_same = sum(int(c) * (int(c) - 1) // 2 for c in np.unique(labels[test], return_counts=True)[1])
        per_fold = min(cfg.pairs_per_fold, n_same // 10)
        if per_fold < 1:
            raise UserError(f"{path}: the held-out identities have too few images for 10 folds of pairs")
        pairs, issame = draw_pairs(labels[test], per_fold=per_fold, seed=0)
        x = to_input([source.image(int(i)) for i in test], cfg.input_size, 3)
        verification["held-out"] = (x, pairs, issame)
    keep = np.flatnonzero(np.isin(labels, train_ids))
    remap = {int(k): i for i, k in enumerate(train_ids)}
    y = np.array([remap[int(v)] for v in labels[keep]], dtype=np.int64)
    tr, va = _holdout(y, cfg.val_fraction, seed=0)
    train = SourceFaces(source, keep[tr], y[tr], cfg.input_size, 3, flip=cfg.flip)
    val = SourceFaces(source, keep[va], y[va], cfg.input_size, 3) if len(va) else None
    kind = "RecordIO" if isinstance(source, RecordIO) else "folder"
    return FaceData(train=train, val=val, num_classes=len(train_ids), in_chans=3, verification=verification,
                    description=f"{kind} {source.path}: {len(tr)} train images of {len(train_ids)} identities")


# ------------------------------------------------------------------------------------------------ model

def build_backbone(cfg: FaceConfig, in_chans: int) -> nn.Module:
    """The IR backbone of `cfg`, with its NAR operators (`cfg.ops`) where set."""
    from nivalis.models.variants import create_variant

    if not cfg.backbone.startswith("lresnet"):
        raise UserError(f"face backbones are the IR family (lresnet34e_ir, lresnet50e_ir, lresnet100e_ir), "
                        f"got {cfg.backbone!r}")
    return create_variant(cfg.backbone, **cfg.backbone_kwargs(in_chans))


def face_meta(cfg: FaceConfig, num_classes: int, in_chans: int, data: str, stand_in: bool) -> dict[str, Any]:
    """What a checkpoint needs to rebuild the embedder (plain values only)."""
    return {"kind": "face", "backbone": cfg.backbone, "backbone_kwargs": cfg.backbone_kwargs(in_chans),
            "loss": cfg.loss, "num_classes": num_classes, "input_size": cfg.input_size, "in_chans": in_chans,
            "data": data, "stand_in": stand_in, "face_config": cfg.to_dict()}


def load_face_model(checkpoint: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone of a `nivalis face train` checkpoint (eval mode, CPU) and the checkpoint's meta."""
    from nivalis.models.variants import create_variant

    payload = load_checkpoint(checkpoint)
    meta = payload.get("meta") or {}
    if meta.get("kind") != "face" or "backbone" not in meta:
        raise UserError(f"{checkpoint} is not a face checkpoint (written by `nivalis face train`)")
    backbone = create_variant(meta["backbone"], **meta.get("backbone_kwargs", {}))  # NAR operators included
    state = {k[len("backbone."):]: v for k, v in payload["model"].items() if k.startswith("backbone.")}
    try:
        backbone.load_state_dict(state)
    except RuntimeError as exc:
        raise UserError(f"checkpoint {checkpoint} does not match {meta['backbone']}: "
                        f"{str(exc).splitlines()[0][:160]}") from None
    return backbone.eval(), meta


def embed_images(backbone: nn.Module, meta: dict[str, Any], images, *, flip: bool = True,
                 batch_size: int = 128) -> torch.Tensor:
    """L2-normalised (flip-summed) embeddings of uint8 RGB images, prepared as the checkpoint was trained."""
    return embed_with_flip(backbone, to_input(images, int(meta["input_size"]), int(meta["in_chans"])),
                           batch_size=batch_size, flip=flip)


def _pair_metrics(backbone: nn.Module, x: torch.Tensor, pairs: np.ndarray, issame: np.ndarray, batch_size: int):
    emb = embed_with_flip(backbone, x, batch_size=batch_size)
    return evaluate_pairs(emb[torch.as_tensor(pairs.reshape(-1))], issame)


def verify_bin(bin_path: str | os.PathLike, checkpoint: str | os.PathLike, *, batch_size: int = 128) -> dict:
    """insightface verification of a checkpoint's backbone on a `.bin` (`nivalis.face.verify` metrics)."""
    backbone, meta = load_face_model(checkpoint)
    vp = load_bin(bin_path)
    x = to_input(vp.images, int(meta["input_size"]), int(meta["in_chans"]))
    result = _pair_metrics(backbone, x, np.arange(2 * len(vp.issame)).reshape(-1, 2), vp.issame, batch_size)
    result["stand_in"] = bool(meta.get("stand_in", False))
    return result


# ------------------------------------------------------------------------------------------------ train

@dataclass
class FaceRun:
    result: dict[str, Any]
    model: FaceModel
    history: list[dict[str, float]]
    verification: dict[str, dict]  # full metrics per set, with the ROC arrays
    untrained: dict[str, dict] | None = None  # the same before training (with `evaluate_untrained`)


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "roc"}


def _sharded_checkpoint(out_dir: Path) -> bool:
    path = out_dir / "checkpoint.pt"
    return path.is_file() and "head_optimizer" in load_checkpoint(path)


def train_face(data: str | os.PathLike, config: FaceConfig, out_dir: str | os.PathLike, *,
               bins: list[Path] | None = None, evaluate_untrained: bool = False, desc: str = "face",
               resume: bool = False) -> FaceRun:
    """Train `config.backbone` with `config.loss` on `data` ("digits" or a path), checkpoint, verify on pairs.

    Under torchrun, with `sample_rate < 1`, or resuming a checkpoint of such a run, the classifier is sharded
    by identity across the ranks (`nivalis.face.sharded_train`); otherwise the engine's `fit` trains the whole
    `FaceModel` (with validation accuracy)."""
    cfg = config
    out_dir = Path(out_dir)
    seed_everything(cfg.seed)
    stand_in = str(data) == "digits"
    fd = standin_data(cfg) if stand_in else folder_data(Path(data), cfg, bins)
    backbone = build_backbone(cfg, fd.in_chans)
    model = FaceModel(backbone, build_head(cfg.loss, cfg.embedding_size, fd.num_classes, cfg.scale, cfg.margin))
    batch = cfg.train_config().eval_batch_size
    untrained = ({name: _pair_metrics(backbone, *v, batch) for name, v in fd.verification.items()}
                 if evaluate_untrained else None)
    meta = face_meta(cfg, fd.num_classes, fd.in_chans, "digits" if stand_in else str(data), stand_in)
    if get_context().enabled or cfg.sample_rate < 1.0 or (resume and _sharded_checkpoint(out_dir)):
        from nivalis.face.partial_fc import ShardedMarginHead
        from nivalis.face.sharded_train import fit_sharded

        head = ShardedMarginHead(cfg.loss, cfg.embedding_size, fd.num_classes, cfg.scale, cfg.margin,
                                 sample_rate=cfg.sample_rate, seed=cfg.seed)
        fitted = fit_sharded(backbone, head, fd.train, cfg, out_dir, meta=meta, resume=resume, desc=desc)
        model.head.weight.data.copy_(load_checkpoint(fitted.checkpoint)["model"]["head.weight"])
    else:
        fitted = fit(model, fd.train, fd.val, config=cfg.train_config(), task=classification_task(fd.num_classes),
                     out_dir=out_dir, meta=meta, desc=desc, resume=resume)
    model.cpu()
    full = {name: _pair_metrics(backbone, *v, batch) for name, v in fd.verification.items()}
    scalars = {name: _scalars(m) for name, m in full.items()}
    first = next(iter(scalars.values()))
    result: dict[str, Any] = {
        "checkpoint": str(fitted.checkpoint), "verification": first, "verification_sets": scalars,
        "loss": cfg.loss, "backbone": cfg.backbone, "epochs": cfg.epochs, "seed": cfg.seed,
        "num_classes": fd.num_classes, "data": fd.description, "seconds": round(fitted.seconds, 2),
        "stand_in": stand_in,
    }
    if untrained is not None:
        result["untrained"] = _scalars(next(iter(untrained.values())))
    if stand_in:
        result["note"] = STANDIN_NOTE
    if fitted.history and "val_accuracy" in fitted.history[-1]:
        result["val_accuracy"] = fitted.history[-1]["val_accuracy"]
    if get_context().is_main:
        payload = load_checkpoint(fitted.checkpoint)
        payload["meta"]["verification"] = scalars
        save_checkpoint(fitted.checkpoint, payload)
        write_run_files(out_dir, result, fitted.history)
    return FaceRun(result=result, model=model, history=fitted.history, verification=full, untrained=untrained)
