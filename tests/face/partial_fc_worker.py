"""Run by test_partial_fc.py in 2 spawned gloo processes: the sharded classifier's loss and gradients, then a
1-epoch sharded training run whose checkpoint the test resumes in one process."""

import os
from pathlib import Path

import torch

from nivalis.engine.distributed import get_context, shutdown


def fixed_batch(rows: int = 12, dim: int = 16, classes: int = 12):
    g = torch.Generator().manual_seed(7)
    return torch.randn(rows, dim, generator=g, dtype=torch.float64), torch.randint(0, classes, (rows,), generator=g)


def run(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from nivalis.face.partial_fc import ShardedMarginHead
    from nivalis.face.train import standin_config, train_face

    out = Path(out)
    ctx = get_context()
    x, y = fixed_batch()
    rows = slice(rank * 6, rank * 6 + 6)  # each rank holds half of the global batch of 12
    for loss_name in ("arcface", "cosface"):
        head = ShardedMarginHead(loss_name, 16, 12, seed=0).double()  # float64: the comparison tests the algebra
        mine = x[rows].double().requires_grad_(True)
        loss = head(mine, y[rows])
        loss.backward()
        torch.save({"loss": loss.detach(), "grad": mine.grad, "weight": head.weight.detach(),
                    "weight_grad": head.weight.grad, "start": head.start, "stop": head.stop,
                    "params": sum(p.numel() for p in head.parameters())}, out / f"{loss_name}{ctx.rank}.pt")
    cfg = standin_config(epochs=1, batch_size=128, pairs_per_fold=20)
    train_face("digits", cfg, out / "run", desc="sharded")
    shutdown()
