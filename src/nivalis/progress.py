"""Progress bars on stderr that switch off with `--quiet` or when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence every progress bar of this process (the CLI's `--quiet`)."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    return not _quiet and sys.stderr.isatty()


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", leave: bool = False) -> Iterator[T]:
    """Wrap `iterable` in a tqdm bar on stderr when bars are enabled, else return it unchanged."""
    if not enabled():
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, leave=leave, file=sys.stderr, dynamic_ncols=True)


def bar(total: int, desc: str = "", leave: bool = False) -> tqdm:
    """A manual bar (`.update(n)`, `.set_postfix(...)`, `.close()`); a disabled no-op bar when quiet."""
    return tqdm(total=total, desc=desc, leave=leave, file=sys.stderr, dynamic_ncols=True, disable=not enabled())
