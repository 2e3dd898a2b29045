"""Pickles read with an allow-list: only the named globals can be rebuilt, so a crafted file cannot run code.

`safe_load(f, allowed)` unpickles with `encoding="bytes"` (files written by Python 2 hold `str` objects that
are raw bytes) and refuses any global not in `allowed` with `pickle.UnpicklingError`. Plain containers,
numbers, strings and bytes need no global at all; `BYTES` adds what Python 3 writes for `bytes` at protocol
2 (`_codecs.encode`), `NUMPY_ARRAYS` what a pickled NumPy array needs.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import IO, Any

#: Python 3 pickles `bytes` at protocols 0-2 as `_codecs.encode(text, "latin1")`
BYTES = frozenset({("_codecs", "encode")})
#: what a pickled NumPy array (or NumPy scalar) rebuilds, in NumPy 1.x and 2.x module names
NUMPY_ARRAYS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "object"), ("builtins", "object"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds only the `(module, name)` globals it is given."""

    def __init__(self, file: IO[bytes], allowed: Iterable[tuple[str, str]], *, encoding: str = "bytes"):
        super().__init__(file, encoding=encoding)
        self.allowed = frozenset(allowed)

    def find_class(self, module: str, name: str):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def safe_load(file: IO[bytes], allowed: Iterable[tuple[str, str]] = (), *, encoding: str = "bytes") -> Any:
    """Unpickle `file` allowing only the `allowed` globals (plus the opcodes for plain containers and scalars)."""
    try:
        return RestrictedUnpickler(file, allowed, encoding=encoding).load()
    except (OverflowError, RecursionError, MemoryError, IndexError, KeyError) as exc:
        # garbage bytes: a huge FRAME or buffer length, deep nesting, a pop from the empty stack, an unknown memo key
        raise pickle.UnpicklingError(f"corrupt pickle ({type(exc).__name__})") from None


__all__ = ["BYTES", "NUMPY_ARRAYS", "RestrictedUnpickler", "safe_load"]
