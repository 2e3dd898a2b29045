"""Model registry: every architecture registers builder functions here (timm style).

Each registered builder is a tiny public function that passes a configuration to a family's
private constructor and accepts at least `num_classes` and `in_chans` keywords. A family is the module
that defines its builders; besides them it may carry `default_cfgs` ({model name: `DefaultCfg`}) and
`published_weights` ({model class: `PublishedWeights`}), which `default_cfg` and `load_pretrained` read
from it. `discover_families("nivalis.models")` imports every module of the package, so a new family is
one new file.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import sys
from collections.abc import Callable
from types import ModuleType

import torch.nn as nn

from nivalis.errors import UserError

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_FAMILY: dict[str, str] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register `fn` under its function name; the family is its module's last name."""
    name = fn.__name__
    if name in _MODELS:
        raise RuntimeError(f"model {name!r} registered twice")
    _MODELS[name] = fn
    _FAMILY[name] = fn.__module__.rsplit(".", 1)[-1]
    return fn


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of registered models, optionally filtered by a shell-style pattern."""
    names = sorted(_MODELS)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def model_family(name: str) -> str:
    _check(name)
    return _FAMILY[name]


def family_module(name: str) -> ModuleType:
    """The module that registered model `name`: its builders, `default_cfgs` and `published_weights`."""
    _check(name)
    return sys.modules[_MODELS[name].__module__]


def family_modules() -> list[ModuleType]:
    """Every module that registered at least one model, in registration order."""
    return [sys.modules[m] for m in dict.fromkeys(fn.__module__ for fn in _MODELS.values())]


def discover_families(package: str) -> list[str]:
    """Import every public module of `package` (its `@register_model` builders register); returns their names."""
    path = importlib.import_module(package).__path__
    names = [f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.name.startswith("_")]
    for name in names:
        importlib.import_module(name)
    return names


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model: `create_model("resnet18", num_classes=10, in_chans=1)`.

    Swapping the 3×3 convolutions of a built network for efficient blocks (seed 003 §5) is
    `nivalis.models.block_swap.swap_blocks(create_model("vgg11"), "effnet", "vgg11")`.
    """
    _check(name)
    return _MODELS[name](**kwargs)


def _plain(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def suggest(name: str, limit: int = 5) -> list[str]:
    """Registered names a mistyped `name` most likely meant: spelling without `-`/`_` first, then close ones."""
    import difflib

    exact = [m for m in _MODELS if _plain(m) == _plain(name)]
    plain = {_plain(m): m for m in _MODELS}
    close = [plain[p] for p in difflib.get_close_matches(_plain(name), list(plain), n=limit, cutoff=0.6)]
    prefix = sorted(m for m in _MODELS if name and _plain(m).startswith(_plain(name)[:4]))
    return list(dict.fromkeys([*exact, *close, *prefix]))[:limit]


def _check(name: str) -> None:
    if name not in _MODELS:
        close = suggest(name)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see `nivalis zoo list`)"
        raise UserError(f"unknown model {name!r}{hint}")

