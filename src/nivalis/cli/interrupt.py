"""Ctrl-C and SIGTERM during a command: one line saying where the last checkpoint is, exit 130 / 143."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM; a BaseException so no `except Exception` swallows it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def message(exc: Interrupted) -> str:
    """`interrupted: checkpoint at PATH (epoch k); --resume continues`, or that nothing was saved yet."""
    saved = getattr(sys.modules.get("nivalis.engine.checkpoint"), "LAST_SAVED", {})
    if saved.get("path"):
        epoch = f" (epoch {saved['epoch']})" if saved.get("epoch") is not None else ""
        return f"interrupted ({exc}): checkpoint at {saved['path']}{epoch}; --resume continues"
    return f"interrupted ({exc}): no checkpoint was written yet"


@contextmanager
def handled_signals() -> Iterator[None]:
    """Turn the first SIGINT/SIGTERM into `Interrupted`; a second one stops the process at once, with one line."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        received.append(signum)
        if len(received) > 1:  # the run is already unwinding: the user wants out now
            os.write(2, f"interrupted again ({signal.Signals(signum).name}): stopped at once\n".encode())
            os._exit(128 + signum)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    saved = getattr(sys.modules.get("nivalis.engine.checkpoint"), "LAST_SAVED", None)
    if saved is not None:
        saved.clear()  # an earlier command in this process is not this run's checkpoint
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
