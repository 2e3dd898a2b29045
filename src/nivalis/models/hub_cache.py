"""`hf-hub:ORG/NAME[@REVISION]`: the weights file of a model already in the local Hugging Face cache, offline.

The cache is the folder `huggingface_hub` downloads into: `HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`),
else `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. A model lives in
`models--ORG--NAME/`: `refs/REVISION` (default `main`) holds the commit hash of the snapshot, and
`snapshots/HASH/` the files (links into `blobs/`). timm publishes `model.safetensors` and `pytorch_model.bin`;
the first present is used. A revision may also be a commit hash (a snapshot folder's name). Nothing is
downloaded and `huggingface_hub` is not needed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nivalis.errors import UserError

__all__ = ["HUB_PREFIX", "hub_cache_dir", "resolve_hub_weights"]

HUB_PREFIX = "hf-hub:"
#: the weights files a timm repository on the Hub holds, in the order they are preferred
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder this environment points at (it may not exist)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "huggingface" / "hub"


def resolve_hub_weights(spec: str) -> Path:
    """The cached weights file of `hf-hub:ORG/NAME[@REVISION]`; UserError naming the folder looked in if absent."""
    repo = spec[len(HUB_PREFIX):] if spec.startswith(HUB_PREFIX) else spec
    repo, _, revision = repo.partition("@")
    revision = revision or "main"
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo) or ".." in repo or not re.fullmatch(r"[\w.-]+", revision):
        raise UserError(f"{spec!r} is not a Hugging Face model id: write hf-hub:ORG/NAME (e.g. hf-hub:timm/resnet50"
                        ".a1_in1k), optionally @REVISION")
    folder = hub_cache_dir() / f"models--{repo.replace('/', '--')}"
    ref = folder / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = folder / "snapshots" / commit
    for name in WEIGHT_FILES:
        if (snapshot / name).is_file():
            return snapshot / name
    where = snapshot if snapshot.is_dir() else folder
    raise UserError(f"{repo} (revision {revision}) is not in the Hugging Face cache: no {' or '.join(WEIGHT_FILES)} "
                    f"under {where} (nivalis downloads nothing; fetch it with `huggingface-cli download {repo}` or "
                    f"point HF_HUB_CACHE / HF_HOME at the cache that holds it)")
