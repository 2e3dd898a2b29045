"""Launched by torchrun in test_distributed.py: train LeNet-5 with DDP, then save each rank's weights."""

import sys
from pathlib import Path

import torch

from nivalis.engine import TrainConfig, get_context
from nivalis.engine.classify import train_classifier
from nivalis.engine.distributed import shutdown

out = Path(sys.argv[1])
run = train_classifier("lenet5", "digits", config=TrainConfig(epochs=2, batch_size=32, seed=0), out_dir=out / "run")
ctx = get_context()
torch.save(run.model.state_dict(), out / f"rank{ctx.rank}.pt")
(out / f"rank{ctx.rank}.world").write_text(str(ctx.world_size))
shutdown()
