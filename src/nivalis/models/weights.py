"""Load published weights (torchvision `.pth`, timm `.pth`/`.safetensors`) or nivalis checkpoints into zoo models.

Every tensor goes through one explicit name map per architecture (the `published_weights` of its family
module, written from the published architecture's parameter names), never through an order heuristic;
every shape is checked and the first mismatch is named. Files are read with `torch.load(...,
weights_only=True)` or `safetensors`, from a local path or a model in the local Hugging Face cache
(`hf-hub:timm/NAME`, `nivalis.models.hub_cache`) only: nothing is downloaded. When the model's
`num_classes` differs from the file's, the class layer keeps its fresh initialisation (reported in
`model.pretrained_report["reinitialised"]`). BatchNorm eps/momentum are set to the reference's (e.g. eps
1e-3 for the TF-slim Inception-ResNet-v2), and so is the activation where the reference's differs from the
paper's (timm's MobileNet V1 uses ReLU6).
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.files import torch_load_weights
from nivalis.models.hub_cache import HUB_PREFIX, resolve_hub_weights
from nivalis.models.registry import family_modules

__all__ = ["NameMap", "PublishedWeights", "TORCHVISION_STEM", "create_model", "first_match", "load_pretrained",
           "published_weights", "read_weights", "reference_names", "rule_map"]

#: nivalis state-dict name → the source's: a function of (name, model), or (pattern, replacement) rules that
#: `re.sub` applies one after the other
NameMap = Callable[[str, nn.Module], str] | tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PublishedWeights:
    """How the published files of one architecture name its tensors (a family module's `published_weights`).

    Attributes:
        sources: {"torchvision" | "timm" | "insightface": (name map, settings of the reference: BN
            `eps`/`momentum`, `transform_input`, `act` (the activation that replaces every ReLU))}.
        reshape: patterns of tensors whose published shape differs only by singleton axes.
        file_renames: rules applied to a file's own names first (legacy names still in distributed files).
        aux_heads: auxiliary class layers, re-initialised with the main one when the classes differ.
        aux_file_names: pattern of the file's auxiliary-head tensors, ignored when the model has none.
    """

    sources: dict[str, tuple[NameMap, dict]]
    reshape: tuple[str, ...] = ()
    file_renames: tuple[tuple[str, str], ...] = ()
    aux_heads: tuple[str, ...] = ()
    aux_file_names: str | None = None


_NONE = PublishedWeights({})


def published_weights() -> dict[type, PublishedWeights]:
    """{model class: its published layouts} over every registered family."""
    return {cls: maps for module in family_modules() for cls, maps in getattr(module, "published_weights", {}).items()}


def _weights_of(model: nn.Module) -> PublishedWeights:
    return published_weights().get(type(model), _NONE)


def first_match(name: str, rules: Sequence[tuple[str, str | Callable[[re.Match], str]]]) -> str:
    """The target of the first rule whose pattern matches all of `name` (a template or a function of the match).

    A name no rule matches is the same in both layouts and comes back unchanged.
    """
    for pattern, target in rules:
        m = re.fullmatch(pattern, name)
        if m:
            return target(m) if callable(target) else m.expand(target)
    return name


def rule_map(rules: Sequence[tuple[str, str | Callable[[re.Match], str]]]) -> Callable[[str, nn.Module], str]:
    """A name map from `first_match` rules that need nothing of the model."""
    return lambda name, model: first_match(name, rules)


#: torchvision's stem `features.0` (`.0` conv, `.1` BN) of MobileNet and EfficientNet, nivalis's `stem.0|1`
TORCHVISION_STEM = (r"stem\.(\d)\.(\w+)", r"features.0.\1.\2")


def create_model(name: str, pretrained: str | os.PathLike | None = None, **kwargs) -> nn.Module:
    """`nivalis.models.registry.create_model` plus `pretrained=PATH`: weights read from a local file, or
    `pretrained="hf-hub:timm/NAME"` from the local Hugging Face cache."""
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
    return f"{_published_source(name)}'s {cfg.file}" if cfg.file else f"the {cfg.weights} weights"


def _published_source(name: str) -> str | None:
    from nivalis.models.configs import default_cfg

    weights = default_cfg(name).weights
    return weights.split(":", 1)[0] if weights else None


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
    name_map = _weights_of(model).sources[source][0]
    return {k: _apply(name_map, k, model) for k in model.state_dict()}


def _use_activation(model: nn.Module, name: str) -> None:
    """Replace every ReLU of `model` by activation `name` (the reference's, e.g. timm's ReLU6 MobileNet V1)."""
    from nivalis.layers.conv_bn_act import make_activation

    for parent in list(model.modules()):
        for child_name, child in parent.named_children():
            if type(child) is nn.ReLU:
                setattr(parent, child_name, make_activation(name))


def _head_names(model: nn.Module, maps: PublishedWeights) -> set[str]:
    heads = (model.classifier_name, *maps.aux_heads)
    return {f"{head}.{p}" for head in heads for p in ("weight", "bias")}


def load_pretrained(model: nn.Module, name: str, path: str | os.PathLike) -> dict:
    """Copy the weights in `path` into `model` (registered as `name`) through its family's name map.

    `path` may be `hf-hub:ORG/NAME[@REVISION]`: the model's file in the local Hugging Face cache.
    Returns (and stores as `model.pretrained_report`) {"file", "source", "tensors", "reinitialised", "note"}.
    """
    path = resolve_hub_weights(str(path)) if str(path).startswith(HUB_PREFIX) else Path(path)
    if not path.is_file():
        where = "is a folder" if path.is_dir() else "not found"
        raise UserError(f"weights file {where}: {path} ({name} needs {_wanted(name)}; nivalis downloads nothing)")
    state, meta = read_weights(path)
    if meta.get("model") and meta["model"] != name:
        raise UserError(f"checkpoint {path} holds {meta['model']!r}, not {name!r}")
    cls = type(model).__name__
    maps = _weights_of(model)
    if maps.file_renames and not meta:
        state = {_apply(maps.file_renames, k, model): v for k, v in state.items()}
    # Published layouts first: where one equals nivalis's names (VGG), the file is taken as published.
    candidates: dict[str, tuple[NameMap, dict]] = dict(maps.sources) if not meta else {}
    candidates["nivalis"] = ((), {})
    own = model.state_dict()
    head = _head_names(model, maps)
    body = [k for k in own if k not in head]
    # The source is the one whose names the file holds: nivalis's own, or a published layout.
    # Layouts that name the file's tensors equally well (timm's ResNets use torchvision's names) go to the source
    # of the model's published weights (timm for the SE-ResNets).
    covered = {s: sum(_apply(m, k, model) in state for k in body) for s, (m, _) in candidates.items()}
    published = (_published_source(name) or "",)
    source = max(covered, key=lambda s: (covered[s], s in published))
    name_map, bn = candidates[source]
    if source == "nivalis" and covered[source] < len(body) and not meta and not maps.sources:
        known = ", ".join(sorted(c.__name__ for c, m in published_weights().items() if m.sources))
        raise UserError(f"{path} does not use nivalis's names for {name}, and there is no name map for its "
                        f"architecture ({cls}) yet; published weights load into {known}")
    reshape = maps.reshape
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
    optional = maps.aux_file_names  # auxiliary heads the model was built without
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
    if "act" in bn:
        _use_activation(model, bn["act"])
    note = (f"class layer {model.classifier_name} re-initialised: the file's classes differ from num_classes"
            if reinitialised else "")
    if bn.get("transform_input"):
        note = " ".join(filter(None, [note, "transform_input on: feed ImageNet-normalised RGB, as torchvision does"]))
    if "act" in bn:
        note = " ".join(filter(None, [note, f"activations are {bn['act']}, as in the {source} model"]))
    report = {"file": str(path), "source": source, "tensors": len(loaded), "reinitialised": reinitialised,
              "note": note}
    model.pretrained_report = report
    return report

