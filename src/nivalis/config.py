"""One (de)serialisation for every config dataclass: tuples become lists in JSON and tuples again on the way back."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass config (tuples as lists, nested dataclasses as dicts)."""

    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}


def config_from_dict(cls: type[C], d: dict[str, Any]) -> C:
    """Rebuild `cls` from `config_to_dict` output; unknown keys are ignored, tuple fields become tuples again."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kw = {}
    for key, value in d.items():
        if key not in known:
            continue
        origin = typing.get_origin(hints.get(key))
        if isinstance(value, list) and (origin is tuple or hints.get(key) is tuple):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kw[key] = value
    return cls(**kw)


def config_defaults(cls: type) -> dict[str, Any]:
    """{field: default} of a dataclass config, for CLI options that must not repeat the seed's values."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


class ConfigDict:
    """Mixin for dataclass configs: `to_dict()` for JSON and checkpoints, `from_dict(d)` back (unknown keys ignored)."""

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        return config_from_dict(cls, d)


__all__ = ["ConfigDict", "config_defaults", "config_from_dict", "config_to_dict"]
