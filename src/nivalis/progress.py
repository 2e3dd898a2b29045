"""Progress on stderr: bars on a terminal, throttled log lines otherwise (a batch job, nohup, CI), none with --quiet.

Without a terminal a bar becomes a ticker that prints at most one line per interval across the whole process
(`[nivalis 14:02:11] lenet5 3/30: 120/400 (30%), 1m05s elapsed, ~2m32s left`), so a log shows a slow run is alive.
The first line comes only after one interval of work, so short commands stay silent. The interval is
`NIVALIS_LOG_SECONDS` (thirty seconds by default).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

#: `--quiet` of this process, inherited by the worker processes it spawns (the snow protocol's trainings)
_QUIET_ENV = "NIVALIS_QUIET"
_LOG_ONLY_ENV = "NIVALIS_LOG_ONLY"
_last_line = [time.monotonic()]


def set_quiet(quiet: bool) -> None:
    """Silence every progress bar and log line of this process and of the processes it starts (`--quiet`)."""
    os.environ[_QUIET_ENV] = "1" if quiet else "0"
    _last_line[0] = time.monotonic()  # a command starts: its first line comes after one interval of work


def _quiet() -> bool:
    return os.environ.get(_QUIET_ENV) == "1"


def log_only() -> None:
    """Log lines even on a terminal, never bars: worker processes whose bars would overwrite each other's."""
    os.environ[_LOG_ONLY_ENV] = "1"


def _terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get(_LOG_ONLY_ENV) != "1"


def enabled() -> bool:
    """Whether bars are drawn (a terminal, not --quiet)."""
    return not _quiet() and _terminal()


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("NIVALIS_LOG_SECONDS", "30")))
    except ValueError:
        return 30.0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Ticker:
    """A bar's interface (`update`, `set_postfix`, `close`) that logs throttled lines instead of drawing."""

    def __init__(self, total: int | None, desc: str = "", then: int = 0):
        self.total, self.desc, self.n, self.then = total or None, desc, 0, then
        self.start = time.monotonic()
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - _last_line[0] < _interval():
            return
        _last_line[0] = now
        elapsed = now - self.start
        where = f"{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else f"{self.n}"
        # `then` more passes of this size follow (the epochs after this one): the estimate covers them too
        left = (f", ~{_duration(elapsed / self.n * (self.total - self.n + self.then * self.total))} left"
                if self.total and self.n else "")
        extra = f" [{self.postfix}]" if self.postfix else ""
        print(f"[nivalis {time.strftime('%H:%M:%S')}] {self.desc or 'working'}: {where}, {_duration(elapsed)} elapsed"
              f"{left}{extra}", file=sys.stderr, flush=True)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        pass


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", leave: bool = False) -> Iterator[T]:
    """Wrap `iterable` in a bar (terminal) or a ticker (log) on stderr; unchanged with --quiet."""
    if _quiet():
        yield from iterable
        return
    if not _terminal():
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        ticker = Ticker(total, desc)
        for item in iterable:
            yield item
            ticker.update(1)
        return
    yield from tqdm(iterable, total=total, desc=desc, leave=leave, file=sys.stderr, dynamic_ncols=True)


def bar(total: int, desc: str = "", leave: bool = False, then: int = 0) -> tqdm | Ticker:
    """A manual bar (`.update(n)`, `.set_postfix(...)`, `.close()`): drawn on a terminal, a ticker otherwise, silent
    with --quiet. `then`: how many more passes of the same size follow (a log line's estimate includes them)."""
    if not _quiet() and not _terminal():
        return Ticker(total, desc, then)
    return tqdm(total=total, desc=desc, leave=leave, file=sys.stderr, dynamic_ncols=True, disable=not enabled())
