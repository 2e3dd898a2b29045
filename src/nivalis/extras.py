"""Optional dependency stacks (pyproject extras): which modules each installs, and one error line when one is missing.

A core `pip install nivalis` (torch, torchmetrics, numpy, scipy, scikit-learn, typer, tqdm,
safetensors) runs the zoo, profiling and
classification training. Each pipeline's heavier stack is an extra; its modules are imported inside the functions that
need them (pandas' `import_optional_dependency`), so that a core install starts and says which extra a command needs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from nivalis.errors import UserError

#: extra (pyproject.toml [project.optional-dependencies]) → the top-level modules it installs
EXTRAS: dict[str, tuple[str, ...]] = {
    "images": ("cv2",),
    "snow": ("torch_geometric", "h5py", "cv2", "shapely", "pyogrio"),
    "geo": ("rasterio", "shapely", "pyogrio", "cv2", "affine"),
    "xgb": ("xgboost",),
    "onnx": ("onnx", "onnxruntime"),
    "face": ("cv2",),
    "plot": ("matplotlib",),
}


class MissingExtra(UserError):
    """A command needs an optional stack that is not installed."""


def is_installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (a module set to None in sys.modules counts as absent)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(extra: str) -> list[str]:
    """The modules of `extra` that are not installed."""
    return [m for m in EXTRAS[extra] if not is_installed(m)]


def extra_of(module: str, prefer: str | None = None) -> str | None:
    """The extra that installs top-level `module` (`prefer` first where two extras share it, as cv2 does)."""
    top = module.split(".")[0]
    if prefer in EXTRAS and top in EXTRAS[prefer]:
        return prefer
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def message(what: str, extra: str, absent: list[str]) -> str:
    """One line: what needs which extra, what is absent, and the command that installs it."""
    names = ", ".join(absent)
    verb = "is" if len(absent) == 1 else "are"
    return f"{what} needs the {extra} extra ({names} {verb} not installed): pip install 'nivalis[{extra}]'"


def require(extra: str, what: str) -> None:
    """Raise MissingExtra naming `extra` if any of its modules is absent; imports nothing."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(message(what, extra, absent))


def import_optional(module: str, what: str = "this", extra: str | None = None) -> ModuleType:
    """Import `module`, or raise MissingExtra naming the extra that installs it."""
    if not is_installed(module):
        extra = extra or extra_of(module) or "all"
        raise MissingExtra(message(what, extra, [module]))
    return importlib.import_module(module)
