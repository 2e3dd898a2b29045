"""The one training loop: `fit` (train + validate per epoch, checkpoint, resume, DDP), `train_one_epoch`, `evaluate`.

Why one module of this size (over 350 lines): `fit`, `train_one_epoch`, `evaluate`, the schedules and the
resume checks are the one training loop every pipeline uses; keeping them together keeps one contract.

Every pipeline (image classification, snow thickness regression, avalanche windows, NAR retraining)
trains through `fit`. A batch is `(inputs, target)` where `inputs` is a tensor or a tuple of tensors
passed to `model(*inputs)`. Loops that are not one fixed network over a `Dataset` (NAR's weight-sharing
supernet samples a path before every step) call `train_one_epoch` with their own batches and a
`before_step` hook.

Reproducibility: the caller seeds (`seed_everything`) before building the model; `fit` derives each
epoch's shuffling and dropout randomness from `(config.seed, epoch)`, so a run resumed from the
checkpoint of epoch k repeats an uninterrupted run exactly.

Device: `TrainConfig.device` is ``cpu`` (the default), ``cuda``, ``cuda:N`` or ``auto``; the model and every
batch move there and bf16 autocast runs on that device type. Checkpoints load onto the CPU first, so one
written on a GPU resumes or predicts on a machine without one. Under torchrun with CUDA each process takes
the GPU of its local rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, RandomSampler

from nivalis.config import ConfigDict
from nivalis.engine.checkpoint import resume_training, save_checkpoint
from nivalis.engine.distributed import get_context, wrap_ddp
from nivalis.engine.metrics import Task
from nivalis.engine.seed import epoch_seed
from nivalis.errors import UserError
from nivalis.progress import bar

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainConfig(ConfigDict):
    """Optimisation settings; each pipeline's config supplies its seed's values."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | adamw | sgd | rmsprop
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"  # none | cosine | step
    step_size: int = 30
    gamma: float = 0.1
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 (CPU autocast; measure its effect before relying on it)
    grad_clip: float | None = None
    eval_batch_size: int = 256
    device: str = "cpu"  # cpu | cuda | cuda:N | auto (CUDA when PyTorch sees one)


@dataclass
class FitResult:
    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None
    seconds: float = 0.0
    resume: dict[str, Any] | None = None   # {"from_epoch", "forced", "differences"} of a resumed run


def build_optimizer(params: Iterable[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    name = cfg.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise UserError(f"unknown optimizer {cfg.optimizer!r} (adam, adamw, sgd, rmsprop)")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    name = cfg.scheduler.lower()
    if name == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.epochs))
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    raise UserError(f"unknown scheduler {cfg.scheduler!r} (none, cosine, step)")


def _rescheduled(optimizer: torch.optim.Optimizer, cfg: TrainConfig, done_epochs: int):
    """The LR schedule of `cfg` (its new length) as it stands after `done_epochs` epochs."""
    import warnings

    for group in optimizer.param_groups:
        group["lr"] = cfg.lr
        group.pop("initial_lr", None)
    scheduler = build_scheduler(optimizer, cfg)
    with warnings.catch_warnings():  # stepping without optimizer steps is the point here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(done_epochs):
            scheduler.step()
    return scheduler


def _split_batch(batch) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    inputs, target = batch[0], batch[1]
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    return tuple(inputs), target


def resolve_device(name: str = "cpu") -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` as a torch device; a GPU that is not there is a UserError."""
    name = (name or "cpu").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (cpu, cuda, cuda:N, auto)") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported device {name!r} (cpu, cuda, cuda:N, auto)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {name!r}: PyTorch sees no CUDA GPU here (torch {torch.__version__}); "
                            "use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device {name!r}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
    return device


def module_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (CPU for a model without parameters)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX on x86, per /proc/cpuinfo's flags).

    Without it, oneDNN emulates bf16 matmuls and convolutions in software, many times slower than fp32, so
    a bf16 autocast is a speed-up only where this is True (what `demo` uses to pick its precision).
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def autocast_for(precision: str, device_type: str = "cpu"):
    """The autocast context of a precision (fp32: autocast off; bf16: bfloat16) on a device type."""
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise UserError(f"unknown precision {precision!r} (fp32, bf16)")
    return torch.autocast(device_type, enabled=False)


def _nchw(t: torch.Tensor) -> torch.Tensor:
    """`t` with row-major strides: `contiguous()` keeps a one-channel batch whose channel stride is 1 (it counts
    as contiguous), which convolutions take for channels-last."""
    t = t.contiguous()
    if t.dim() == 4 and t.shape[1] == 1 and t.stride(1) != t.shape[2] * t.shape[3]:
        t = t.clone(memory_format=torch.contiguous_format)
    return t


def _to(tensors: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The batch on `device`; on the CPU as contiguous (NCHW) tensors.

    torch 2.13.0's CPU (oneDNN) weight gradient of a 1×1 stride-2 convolution, the shortcut of every ResNet
    stage, corrupts the heap on one intra-op thread when its input is channels-last (`double free or
    corruption`, the process aborts); a channels-last batch (an HWC array permuted to CHW) makes every
    activation channels-last. A contiguous batch is a copy of a few MB and keeps every layer NCHW.
    """
    if device.type == "cpu":
        return tuple(_nchw(t) for t in tensors)
    return tuple(t.to(device, non_blocking=True) for t in tensors)


def _train_loader(dataset: Dataset, cfg: TrainConfig, epoch: int) -> DataLoader:
    ctx = get_context()
    if isinstance(dataset, IterableDataset):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        return DataLoader(dataset, batch_size=cfg.batch_size)
    if ctx.enabled:
        sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.seed)
        sampler.set_epoch(epoch)
    else:
        generator = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
        sampler = RandomSampler(dataset, generator=generator)
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, task: Task, *, batch_size: int = 256,
             precision: str = "fp32") -> dict[str, float]:
    """Mean loss and the task's metrics over `dataset` (every process evaluates all of it)."""
    model = model.module if isinstance(model, DistributedDataParallel) else model
    was_training = model.training
    model.eval()
    device = module_device(model)
    metrics = task.metrics()
    total_loss, total_n = 0.0, 0
    try:
        for batch in DataLoader(dataset, batch_size=batch_size):
            inputs, target = _split_batch(batch)
            inputs, (target_dev,) = _to(inputs, device), _to((target,), device)
            with autocast_for(precision, device.type):
                out = model(*inputs)
                loss = task.loss(out, target_dev)
            n = target.shape[0]
            total_loss += float(loss) * n
            total_n += n
            metrics.update(*task.metric_inputs(out.float().cpu(), target))
    finally:
        model.train(was_training)
    if total_n == 0:
        raise UserError("cannot evaluate on an empty data set")
    result = {"loss": total_loss / total_n}
    result.update({k: float(v) for k, v in metrics.compute().items()})
    return result


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, *, batch_size: int = 256) -> torch.Tensor:
    """Concatenated model outputs over `dataset` in order (eval mode), on the CPU."""
    model.eval()
    device = module_device(model)
    outs = [model(*_to(_split_batch(batch)[0], device)).cpu() for batch in DataLoader(dataset, batch_size=batch_size)]
    return torch.cat(outs)


def train_one_epoch(model: nn.Module, batches: Iterable, optimizer: torch.optim.Optimizer, *,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], epoch: int = 0,
                    device: torch.device | None = None, precision: str = "fp32", grad_clip: float | None = None,
                    total: int | None = None, desc: str = "train", then: int = 0,
                    before_step: Callable[[int], None] | None = None,
                    after_step: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> dict[str, float]:
    """One optimisation pass over `batches` (each `(inputs, target)`); returns `{"train_loss": mean per sample}`.

    `model` may be DDP-wrapped (`wrap_ddp`). `before_step(step)` runs after batch `step` is drawn and before
    its forward pass (a per-step learning rate, a sampled path); `after_step(output, target)` sees each
    step's detached output (running metrics). `epoch` only names the epoch in the divergence error;
    `total` (number of batches) sizes the progress bar; `then` epochs of the same size follow (a log line's estimate
    of the time left covers them).
    """
    device = device or module_device(model)
    model.train()
    progress = bar(total or 0, desc=desc, then=then)
    loss_sum, n_sum = 0.0, 0
    try:
        for step, batch in enumerate(batches):
            inputs, target = _split_batch(batch)
            inputs, (target,) = _to(inputs, device), _to((target,), device)
            if before_step is not None:
                before_step(step)
            optimizer.zero_grad(set_to_none=True)
            with autocast_for(precision, device.type):
                out = model(*inputs)
                loss = loss_fn(out, target)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise UserError(f"training diverged at epoch {epoch + 1} (loss {loss_value}); lower the learning rate")
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            n = target.shape[0]
            loss_sum += loss_value * n
            n_sum += n
            if after_step is not None:
                after_step(out.detach(), target)
            progress.update(1)
            progress.set_postfix(loss=f"{loss_sum / max(n_sum, 1):.4f}")
    finally:
        progress.close()
    return {"train_loss": loss_sum / max(n_sum, 1)}


#: config fields a resumed run may change without describing another run
_RESUMABLE_CHANGES = ("epochs", "device", "eval_batch_size")


def data_fingerprint(dataset: Dataset | None) -> str | None:
    """A hash of a data set's content (tensors, or the names of its files/radargrams and its length), so a resumed
    run can tell that it is given other data; None where a data set is a stream (nothing fixed to hash)."""
    import hashlib

    if dataset is None or isinstance(dataset, IterableDataset):
        return None
    digest = hashlib.sha256(str(len(dataset)).encode())  # type: ignore[arg-type]
    tensors = getattr(dataset, "tensors", None)
    if tensors is None:
        tensors = [getattr(dataset, name) for name in ("features", "targets") if hasattr(dataset, name)]
    for tensor in tensors:
        if isinstance(tensor, torch.Tensor):
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    for name in getattr(dataset, "names", []) or []:
        digest.update(str(name).encode())
    return digest.hexdigest()[:16]


def _plain_json(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _resume_differences(state: dict[str, Any], cfg: TrainConfig, meta: dict[str, Any]) -> list[str]:
    """What makes this run another run than the checkpoint's: its data, model, settings or a shorter schedule."""
    def changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
        return [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
                if key not in _RESUMABLE_CHANGES and _plain_json(old.get(key)) != _plain_json(new.get(key))]

    diffs = []
    old_meta, new_meta = _plain_json(state.get("meta", {})), _plain_json(meta)
    for key in sorted(set(old_meta) | set(new_meta)):
        old, new = old_meta.get(key), new_meta.get(key)
        if key == "config" and isinstance(old, dict) and isinstance(new, dict):  # a pipeline's own config
            diffs += changed(old, new)
        elif key in ("train_sha256", "test_sha256") and old is None:
            continue  # a checkpoint written before the content hashes were stored: its file names still compare
        elif old != new:
            what = ("the data" if key in ("data", "data_fingerprint", "train_files", "test_files", "stats",
                                          "train_sha256", "test_sha256") else key)
            diffs.append(f"{what} differs ({key})")
    diffs += changed(state.get("config", {}), cfg.to_dict())
    if int(state.get("epoch", 0)) > cfg.epochs:
        diffs.append(f"the checkpoint has {state['epoch']} epochs done, more than --epochs {cfg.epochs}")
    return list(dict.fromkeys(diffs))


def fit(model: nn.Module, train_set: Dataset, val_set: Dataset | None = None, *, config: TrainConfig, task: Task,
        out_dir: str | Path | None = None, resume: bool = False, meta: dict[str, Any] | None = None,
        desc: str = "train", on_epoch: Callable[[dict[str, float]], None] | None = None,
        force: bool = False) -> FitResult:
    """Train `model` for `config.epochs` epochs; validate after each; checkpoint to `out_dir/checkpoint.pt`.

    `meta` (plain values only) is stored in the checkpoint so a later command can rebuild the model
    (e.g. `{"model": "lenet5", "model_kwargs": {...}, "data": "digits"}`); a fingerprint of `train_set`'s content
    is added to it. With `resume=True` the run continues after the last completed epoch of the checkpoint in
    `out_dir`, and only if the checkpoint describes this run: other data, model or settings, or fewer epochs than
    it has done, are refused with the difference named, unless `force=True` (recorded in `FitResult.resume`).
    More epochs than the checkpoint's schedule recompute the schedule for the new length (a finished cosine
    run extended does not train at lr 0).
    Under torchrun the model is wrapped in DDP, batches are sharded with DistributedSampler and only
    rank 0 writes.
    """
    ctx = get_context()
    cfg = config
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        index = ctx.local_rank if ctx.enabled else device.index
        device = torch.device("cuda", torch.cuda.current_device() if index is None else index)
        torch.cuda.set_device(device)
    model.to(device)
    optimizer = build_optimizer(model.parameters(), cfg)
    scheduler = build_scheduler(optimizer, cfg)
    history: list[dict[str, float]] = []
    start_epoch = 0
    ckpt_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None

    meta = {**(meta or {}), "data_fingerprint": data_fingerprint(train_set)}
    resume_note: dict[str, Any] | None = None
    if force and not resume:
        raise UserError("--force only applies with --resume (it continues a checkpoint of another run)")
    if resume:
        def check(state: dict[str, Any]) -> None:
            nonlocal resume_note
            diffs = _resume_differences(state, cfg, meta)
            if diffs and not force:
                raise UserError(f"refusing to resume {ckpt_path}: it is another run ({'; '.join(diffs)}); "
                                "use --force to continue anyway")
            old = state.get("config", {})
            allowed = [f"{key} {old.get(key)!r} -> {getattr(cfg, key)!r}" for key in _RESUMABLE_CHANGES
                       if key in old and _plain_json(old.get(key)) != _plain_json(getattr(cfg, key))]
            resume_note = {"from_epoch": int(state.get("epoch", 0)), "forced": bool(diffs), "differences": diffs,
                           "changes": allowed}  # what a resume may change (--epochs), recorded all the same

        state = resume_training(ckpt_path, model=model, optimizer=optimizer, scheduler=scheduler, check=check)
        start_epoch = int(state["epoch"])
        history = list(state.get("history", []))
        if int(state.get("config", {}).get("epochs", cfg.epochs)) != cfg.epochs:
            scheduler = _rescheduled(optimizer, cfg, start_epoch)

    train_model = wrap_ddp(model, device)
    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(cfg.seed, epoch) + ctx.rank)
        loader = _train_loader(train_set, cfg, epoch)
        total = len(loader) if not isinstance(train_set, IterableDataset) else None
        train = train_one_epoch(train_model, loader, optimizer, loss_fn=task.loss, epoch=epoch, device=device,
                                precision=cfg.precision, grad_clip=cfg.grad_clip, total=total,
                                desc=f"{desc} {epoch + 1}/{cfg.epochs}", then=cfg.epochs - epoch - 1)
        scheduler.step()
        row: dict[str, float] = {"epoch": epoch + 1, "train_loss": train["train_loss"],
                                 "lr": optimizer.param_groups[0]["lr"]}
        if val_set is not None:
            row.update({f"val_{k}": v for k, v in evaluate(model, val_set, task, batch_size=cfg.eval_batch_size,
                                                           precision=cfg.precision).items()})
        row["seconds"] = time.perf_counter() - t0
        if not math.isfinite(row.get("val_loss", 0.0)):  # the last step can leave weights that output NaN
            raise UserError(f"training diverged at epoch {epoch + 1} (training loss {row['train_loss']:.4g}, "
                            f"validation loss {row['val_loss']}); lower the learning rate (--lr {cfg.lr:g})")
        history.append(row)
        if ckpt_path is not None and ctx.is_main:
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "config": cfg.to_dict(),
                "meta": meta or {}, "history": history,
            })
        ctx.barrier()
        if on_epoch is not None:
            on_epoch(row)
    return FitResult(model=model, history=history, checkpoint=ckpt_path, seconds=time.perf_counter() - t_start,
                     resume=resume_note)
