"""Lazy package exports (PEP 562): `from nivalis.avalanche import load_scene` imports only what it names.

A package's `__init__` lists its public names and the module each lives in; nothing is imported until a name
is used. Importing `nivalis.avalanche.config` (a CLI default) therefore never pulls OpenCV or rasterio, and a
core install can list every command group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, names_by_module: dict[str, tuple[str, ...]]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` for `package`, resolving each name from its module on first use.

    `names_by_module` maps a module (relative to `package`, e.g. ".io") to the public names it defines:
    `__getattr__, __dir__, __all__ = lazy_exports(__name__, {".io": ("load_scene", "Scene")})`.
    """
    exports = {name: module for module, names in names_by_module.items() for name in names}

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)
