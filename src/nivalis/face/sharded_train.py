"""The face training loop with the classifier sharded by identity (`nivalis.face.partial_fc`), for 1 or N ranks.

Under `torchrun` the backbone is wrapped in DDP with a communication hook that sums (rather than averages)
its gradients: the sharded loss is already the mean over the global batch and each rank's embedding
gradient is exact, so the sum over ranks is the gradient one process would compute on the global batch.
The classifier shard stays outside DDP (each rank owns different rows); it has its own optimizer whose
per-row state is gathered with the weights. Each rank reads `batch_size` images per step
(DistributedSampler); the global batch is `world_size × batch_size`.

The checkpoint (`checkpoint.pt`, written by rank 0 after every epoch) holds the backbone as `backbone.*`
and the whole classifier as `head.weight`, as the single-process `FaceModel` names them, so `face verify`
and `face embed` read it alike; the classifier's optimizer state is stored whole too, so `resume=True`
continues on any number of ranks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from nivalis.engine.checkpoint import load_checkpoint, save_checkpoint
from nivalis.engine.distributed import get_context, wrap_ddp
from nivalis.engine.fit import _rescheduled, build_optimizer, build_scheduler, resolve_device
from nivalis.engine.seed import epoch_seed
from nivalis.errors import UserError
from nivalis.face.partial_fc import ShardedMarginHead, gather_classifier, load_classifier
from nivalis.progress import bar

__all__ = ["ShardedFit", "fit_sharded"]

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class ShardedFit:
    history: list[dict[str, float]]
    checkpoint: Path
    seconds: float


def _sum_gradients(process_group, bucket):
    """DDP communication hook: all-reduce SUM of a gradient bucket (DDP's default divides by the world size)."""
    work = dist.all_reduce(bucket.buffer(), group=process_group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def _loader(dataset: Dataset, batch_size: int, seed: int, epoch: int) -> DataLoader:
    ctx = get_context()
    if ctx.enabled:
        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


def fit_sharded(backbone: nn.Module, head: ShardedMarginHead, train_set: Dataset, config, out_dir: str | Path, *,
                meta: dict[str, Any], resume: bool = False, desc: str = "face") -> ShardedFit:
    """Train `backbone` and this rank's `head` shard for `config.epochs` (a `FaceConfig`); checkpoint each epoch."""
    ctx = get_context()
    tc = config.train_config()
    device = resolve_device(tc.device)
    if device.type == "cuda" and ctx.enabled:
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    backbone.to(device)
    head.to(device)
    opt_backbone, opt_head = build_optimizer(backbone.parameters(), tc), build_optimizer(head.parameters(), tc)
    sched_backbone, sched_head = build_scheduler(opt_backbone, tc), build_scheduler(opt_head, tc)
    ckpt_path = Path(out_dir) / CHECKPOINT_NAME
    history: list[dict[str, float]] = []
    start = 0
    if resume:
        if not ckpt_path.is_file():
            raise UserError(f"nothing to resume: no checkpoint at {ckpt_path}")
        state = load_checkpoint(ckpt_path)
        if "head_optimizer" not in state:
            raise UserError(f"{ckpt_path} was not written by a sharded face run (no classifier optimizer state)")
        model = state["model"]
        try:
            backbone.load_state_dict({k[len("backbone."):]: v for k, v in model.items() if k.startswith("backbone.")})
            opt_backbone.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise UserError(f"{ckpt_path} does not match this run: {str(exc).splitlines()[0][:160]}") from None
        load_classifier(head, {"weight": model["head.weight"], "state": state["head_optimizer"]}, opt_head)
        start, history = int(state["epoch"]), list(state.get("history", []))
        if start >= tc.epochs:
            raise UserError(f"{ckpt_path} has done {start} epochs already; give more than that with --epochs")
        # the schedule of this run's length as it stands after `start` epochs (a longer run is not stuck at lr 0)
        sched_backbone, sched_head = _rescheduled(opt_backbone, tc, start), _rescheduled(opt_head, tc, start)
    train_backbone = wrap_ddp(backbone, device)
    if ctx.enabled:
        train_backbone.register_comm_hook(None, _sum_gradients)
    t_start = time.perf_counter()
    for epoch in range(start, tc.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(tc.seed, epoch) + ctx.rank)
        loader = _loader(train_set, tc.batch_size, tc.seed, epoch)
        train_backbone.train()
        progress = bar(len(loader), desc=f"{desc} {epoch + 1}/{tc.epochs}")
        loss_sum, steps = 0.0, 0
        try:
            for (x, y), _ in loader:
                x, y = x.to(device), y.to(device)
                opt_backbone.zero_grad(set_to_none=True)
                opt_head.zero_grad(set_to_none=True)
                loss = head(train_backbone(x), y)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise UserError(f"training diverged at epoch {epoch + 1} (loss {value}); lower the learning rate")
                loss.backward()
                if tc.grad_clip:
                    nn.utils.clip_grad_norm_(backbone.parameters(), tc.grad_clip)
                opt_backbone.step()
                opt_head.step()
                loss_sum, steps = loss_sum + value, steps + 1
                progress.update(1)
                progress.set_postfix(loss=f"{loss_sum / steps:.4f}")
        finally:
            progress.close()
        sched_backbone.step()
        sched_head.step()
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / max(steps, 1),
                        "lr": opt_backbone.param_groups[0]["lr"], "seconds": time.perf_counter() - t0,
                        "world_size": ctx.world_size})
        whole = gather_classifier(head, opt_head)  # every rank takes part; rank 0 writes
        if ctx.is_main:
            model = {f"backbone.{k}": v.detach().cpu() for k, v in backbone.state_dict().items()}
            model["head.weight"] = whole["weight"]
            save_checkpoint(ckpt_path, {
                "model": model, "optimizer": opt_backbone.state_dict(), "head_optimizer": whole["state"],
                "scheduler": sched_backbone.state_dict(), "epoch": epoch + 1, "config": tc.to_dict(),
                "meta": {**meta, "sample_rate": head.sample_rate, "world_size": ctx.world_size},
                "history": history})
        ctx.barrier()
    return ShardedFit(history=history, checkpoint=ckpt_path, seconds=time.perf_counter() - t_start)
