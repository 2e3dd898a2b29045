"""Checkpoints written atomically (temp file + os.replace) and read only with `weights_only=True`."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nivalis.errors import UserError
from nivalis.files import atomic_path, torch_load_weights

#: the checkpoint this process wrote last and its epoch: what an interrupted run says it can resume from
LAST_SAVED: dict[str, Any] = {}


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write `payload` (tensors, numbers, strings, lists, dicts only) so a killed run never leaves a torn file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    LAST_SAVED.update(path=path, epoch=payload.get("epoch"))
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint safely; a missing, corrupt or unsafe (code-executing pickle) file is a UserError."""
    path = Path(path)
    if path.is_dir():
        inside = " (the checkpoint.pt inside it?)" if (path / "checkpoint.pt").is_file() else ""
        raise UserError(f"checkpoint {path} is a folder; give the checkpoint file{inside}")
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        payload = torch_load_weights(path)
    except pickle.UnpicklingError as exc:
        raise UserError(_unpickling_error(path, exc)) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise UserError(f"corrupt checkpoint {path}: {_first_line(exc)[:160]}") from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise UserError(f"{path} is not a nivalis checkpoint (no 'model' entry)")
    return payload


def resume_training(path: str | os.PathLike | None, *, model: Any, optimizer: Any = None, scheduler: Any = None,
                    others: dict[str, Any] | None = None, check: Callable[[dict[str, Any]], None] | None = None,
                    what: str = "checkpoint") -> dict[str, Any]:
    """Load the checkpoint at `path` into a run's model, optimizer and LR scheduler (and `others`, by payload key).

    `check(payload)` may refuse a checkpoint of another run (a UserError) before anything is loaded. A
    missing file or a state that does not fit is a one-line UserError. Returns the payload (epoch, history, ...).
    """
    if path is None or not Path(path).is_file():
        raise UserError(f"nothing to resume: no {what} at {path}")
    path = Path(path)
    state = load_checkpoint(path)
    if check is not None:
        check(state)
    targets = {"model": model, "optimizer": optimizer, "scheduler": scheduler, **(others or {})}
    try:
        for key, target in targets.items():
            if target is not None:
                target.load_state_dict(state[key])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"{what} {path} does not match this model: {_first_line(exc)[:160]}") from None
    return state


def _unpickling_error(path: Path, exc: pickle.UnpicklingError) -> str:
    """One line for a file `weights_only` loading refused: code or objects beyond weights, or not a checkpoint."""
    text = str(exc)
    unsafe = re.search(r"GLOBAL ([\w.]+)", text)
    if unsafe:
        return f"refusing to load {path}: it asks to build {unsafe.group(1)}, more than plain weights (unsafe)"
    if not zipfile.is_zipfile(path):
        return f"{path} is not a PyTorch checkpoint (not a file written by torch.save)"
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    first = detail.group(1) if detail else _first_line(exc)
    return f"refusing to load {path}: not a plain weights file ({first.strip()[:120]})"


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
