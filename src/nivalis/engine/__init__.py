"""One fit/evaluate loop for every task: seeding, checkpoints, resume, torchrun DDP, torchmetrics."""

from nivalis.engine.checkpoint import load_checkpoint, resume_training, save_checkpoint
from nivalis.engine.distributed import DistContext, get_context, wrap_ddp
from nivalis.engine.fit import (
    FitResult,
    Task,
    TrainConfig,
    autocast_for,
    cpu_has_native_bf16,
    evaluate,
    fit,
    module_device,
    predict,
    resolve_device,
    train_one_epoch,
)
from nivalis.engine.metrics import binary_task, classification_task, regression_task
from nivalis.engine.seed import seed_everything

__all__ = [
    "DistContext", "FitResult", "Task", "TrainConfig", "autocast_for", "binary_task", "cpu_has_native_bf16", "classification_task",
    "evaluate", "fit", "get_context", "load_checkpoint", "module_device", "predict", "regression_task",
    "resolve_device", "resume_training", "save_checkpoint", "seed_everything", "train_one_epoch", "wrap_ddp",
]
