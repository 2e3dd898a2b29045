"""Load published weights (torchvision `.pth`, timm `.pth`/`.safetensors`) or nivalis checkpoints into zoo models.

Every tensor goes through one explicit name map per family (`nivalis.models.weights.<family>`, written from the
published architecture's parameter names), never through an order heuristic; every shape is checked and the
first mismatch is named. Files are read with `torch.load(..., weights_only=True)` or `safetensors`, from a
local path only: nothing is downloaded. When the model's `num_classes` differs from the file's, the class
layer keeps its fresh initialisation (reported in `model.pretrained_report["reinitialised"]`). BatchNorm
eps/momentum are set to the reference's (e.g. eps 1e-3 for the TF-slim Inception-ResNet-v2).
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.files import torch_load_weights
from nivalis.models.weights import (
    alexnet,
    convnext,
    densenet,
    efficientnet,
    inception,
    mobilenet,
    resnet,
    shufflenet,
    vgg,
)

__all__ = ["create_model", "load_pretrained", "read_weights", "reference_names", "SOURCES"]

NameMap = Callable[[str, nn.Module], str] | tuple[tuple[str, str], ...]

#: model class → {source: (name map nivalis → source, settings of the source: BN eps/momentum, transform_input)}
SOURCES: dict[str, dict[str, tuple[NameMap, dict]]] = {
    "ResNet": resnet.SOURCES,
    "VGG": vgg.SOURCES,
    "MobileNetV2": mobilenet.SOURCES,
    "MobileNetV3": mobilenet.V3_SOURCES,
    "DenseNet": densenet.SOURCES,
    "AlexNet": alexnet.SOURCES,
    "ShuffleNetV2": shufflenet.SOURCES,
    "GoogLeNet": inception.GOOGLENET_SOURCES,
    "InceptionV3": inception.INCEPTION_V3_SOURCES,
    "EfficientNet": efficientnet.SOURCES,
    "ConvNeXt": convnext.SOURCES,
    "InceptionResNetV2": inception.SOURCES,
}
#: tensors whose published shape differs only by singleton axes (ConvNeXt's layer scale)
_RESHAPE: dict[str, tuple[str, ...]] = {"ConvNeXt": convnext.RESHAPE}
#: renames applied to a file's own names before mapping (legacy names still in distributed files)
_FILE_RENAMES: dict[str, tuple[tuple[str, str], ...]] = {"DenseNet": densenet.FILE_RENAMES}


def create_model(name: str, pretrained: str | os.PathLike | None = None, **kwargs) -> nn.Module:
    """`nivalis.models.registry.create_model` plus `pretrained=PATH`: weights read from a local file."""
    from nivalis.models.registry import create_model as build

    if pretrained is True:
        raise UserError(f"pretrained=True downloads nothing here: give the path of the weights file for {name} "
                        f"({_wanted(name)})")
    model = build(name, **kwargs)
    if pretrained:
        load_pretrained(model, name, pretrained)
    return model


def _wanted(name: str) -> str:
    from nivalis.models.configs import default_cfg

    cfg = default_cfg(name)
    if cfg.weights is None:
        return "no published weights exist for it; a nivalis checkpoint works"
    source = cfg.weights.split(":", 1)[0]
    return f"{source}'s {cfg.file}" if cfg.file else f"the {cfg.weights} weights"


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, nivalis meta or {}) from a .pth/.pt/.bin (weights_only), .safetensors or nivalis checkpoint."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path)), {}
        except (SafetensorError, OSError) as exc:
            raise UserError(f"cannot read {path}: {_first_line(exc)[:160]}") from None
    try:
        payload = torch_load_weights(path)
    except pickle.UnpicklingError as exc:
        raise UserError(f"refusing to load {path}: not a plain weights file ({_first_line(exc)[:120]})") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise UserError(f"cannot read {path}: {_first_line(exc)[:160]}") from None
    meta: dict = {}
    if isinstance(payload, dict) and isinstance(payload.get("model"), dict):  # nivalis checkpoint
        meta, payload = payload.get("meta") or {}, payload["model"]
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):  # timm training checkpoint
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise UserError(f"{path} holds no state dict (a mapping of names to tensors)")
    # DDP / torch.compile wrappers prefix every name
    for prefix in ("module.", "_orig_mod."):
        if payload and all(k.startswith(prefix) for k in payload):
            payload = {k[len(prefix):]: v for k, v in payload.items()}
    return dict(payload), meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _apply(name_map: NameMap, name: str, model: nn.Module) -> str:
    if callable(name_map):
        return name_map(name, model)
    for pattern, repl in name_map:
        name = re.sub(pattern, repl, name)
    return name


def reference_names(model: nn.Module, source: str) -> dict[str, str]:
    """{nivalis state-dict name: the `source`'s name} for every entry of `model.state_dict()`."""
    name_map = SOURCES[type(model).__name__][source][0]
    return {k: _apply(name_map, k, model) for k in model.state_dict()}


def _head_names(model: nn.Module) -> set[str]:
    heads = (model.classifier_name, *inception.AUX_HEADS.get(type(model).__name__, ()))
    return {f"{head}.{p}" for head in heads for p in ("weight", "bias")}


def load_pretrained(model: nn.Module, name: str, path: str | os.PathLike) -> dict:
    """Copy the weights in `path` into `model` (registered as `name`) through its family's name map.

    Returns (and stores as `model.pretrained_report`) {"file", "source", "tensors", "reinitialised", "note"}.
    """
    path = Path(path)
    if not path.is_file():
        where = "is a folder" if path.is_dir() else "not found"
        raise UserError(f"weights file {where}: {path} ({name} needs {_wanted(name)}; nivalis downloads nothing)")
    state, meta = read_weights(path)
    if meta.get("model") and meta["model"] != name:
        raise UserError(f"checkpoint {path} holds {meta['model']!r}, not {name!r}")
    cls = type(model).__name__
    if cls in _FILE_RENAMES and not meta:
        state = {_apply(_FILE_RENAMES[cls], k, model): v for k, v in state.items()}
    # Published layouts first: where one equals nivalis's names (VGG), the file is taken as published.
    candidates: dict[str, tuple[NameMap, dict]] = dict(SOURCES.get(cls, {})) if not meta else {}
    candidates["nivalis"] = ((), {})
    own = model.state_dict()
    head = _head_names(model)
    body = [k for k in own if k not in head]
    # The source is the one whose names the file holds: nivalis's own, or a published layout.
    covered = {s: sum(_apply(m, k, model) in state for k in body) for s, (m, _) in candidates.items()}
    source = max(covered, key=covered.get)
    name_map, bn = candidates[source]
    if source == "nivalis" and covered[source] < len(body) and not meta and cls not in SOURCES:
        known = ", ".join(sorted(SOURCES))
        raise UserError(f"{path} does not use nivalis's names for {name}, and there is no name map for its "
                        f"architecture ({cls}) yet; published weights load into {known}")
    reshape = _RESHAPE.get(cls, ())
    loaded: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for k in body:
        ref = _apply(name_map, k, model)
        if ref not in state:
            if k.endswith("num_batches_tracked"):  # some exports drop the BN step counters
                loaded[k] = own[k]
                continue
            raise UserError(f"{path} is not a {source} {name}: it has no tensor {ref!r} (for {k})")
        tensor = state[ref]
        used.add(ref)
        if tensor.shape != own[k].shape:
            if any(re.search(p, k) for p in reshape) and tensor.numel() == own[k].numel():
                tensor = tensor.reshape(own[k].shape)
            else:
                raise UserError(f"shape mismatch at {k} ({source} {ref!r}): file {tuple(tensor.shape)}, "
                                f"model {tuple(own[k].shape)}")
        loaded[k] = tensor.to(own[k].dtype)
    file_head = {_apply(name_map, h, model) for h in head}  # used, or replaced by a fresh class layer
    reinitialised = []
    for k in sorted(head & set(own)):
        ref = _apply(name_map, k, model)
        if ref in state and state[ref].shape == own[k].shape:
            loaded[k], _ = state[ref].to(own[k].dtype), used.add(ref)
        else:
            loaded[k] = own[k]
            reinitialised.append(k)
    optional = inception.AUX_FILE_NAMES.get(cls)  # auxiliary heads the model was built without
    unused = [r for r in state if r not in used and r not in file_head and not (optional and re.match(optional, r))]
    if unused:
        raise UserError(f"{path} holds tensors the {name} architecture does not have, first {unused[0]!r} "
                        f"({len(unused)} in all): weights of another model?")
    model.load_state_dict(loaded, strict=True)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eps = bn.get("eps", m.eps)
            m.momentum = bn.get("momentum", m.momentum)
    if "transform_input" in bn:
        model.transform_input = bn["transform_input"]
    note = (f"class layer {model.classifier_name} re-initialised: the file's classes differ from num_classes"
            if reinitialised else "")
    if bn.get("transform_input"):
        note = " ".join(filter(None, [note, "transform_input on: feed ImageNet-normalised RGB, as torchvision does"]))
    report = {"file": str(path), "source": source, "tensors": len(loaded), "reinitialised": reinitialised,
              "note": note}
    model.pretrained_report = report
    return report

