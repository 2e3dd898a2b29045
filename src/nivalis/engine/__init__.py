"""One fit/evaluate loop for every task: seeding, checkpoints, resume, torchrun DDP, torchmetrics."""

from nivalis.engine.checkpoint import load_checkpoint, save_checkpoint
from nivalis.engine.distributed import DistContext, get_context
from nivalis.engine.fit import FitResult, Task, TrainConfig, evaluate, fit, predict
from nivalis.engine.metrics import binary_task, classification_task, regression_task
from nivalis.engine.seed import seed_everything

__all__ = [
    "DistContext", "FitResult", "Task", "TrainConfig", "binary_task", "classification_task", "evaluate", "fit",
    "get_context", "load_checkpoint", "predict", "regression_task", "save_checkpoint", "seed_everything",
]
