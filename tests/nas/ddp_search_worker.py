"""Launched by torchrun in test_distributed.py: a tiny NAR search on 2 processes; each rank saves its result."""

import json
import sys
from pathlib import Path

import torch

from nivalis.engine import get_context
from nivalis.engine.distributed import shutdown
from nivalis.nas.search import NARConfig, search

out = Path(sys.argv[1])
cfg = NARConfig(width=0.0625, proxy_per_class=12, proxy_val_per_class=4, epochs=1, pretrain_epochs=1, sgdr_t0=1,
                controller_steps=2, reward_batch_size=16, derive_samples=2, batch_size=32, augment="shift")
found = search(cfg, "digits", out_dir=out / "run")
ctx = get_context()
torch.save(found.supernet.state_dict(), out / f"rank{ctx.rank}.pt")
(out / f"rank{ctx.rank}.json").write_text(json.dumps({"world": ctx.world_size, "arch": found.result["arch"],
                                                      "steps": found.steps}))
shutdown()
