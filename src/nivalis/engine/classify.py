"""Image classification with any zoo model: build it for a data set, train it with the engine, test and profile it.

This is what `nivalis train` runs: Adam, batch 32, peak lr 3e-3 with cosine decay, no augmentation
(`DIGITS_RECIPE`, chosen by a 5-seed grid over batch size and lr on digits, against Adam at a constant 1e-3).
`nivalis zoo compare` uses seed 003's own protocol instead (lr 1e-3, β1 = 0.75).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nivalis.data import ClassificationData, load_classification
from nivalis.engine import TrainConfig, classification_task, evaluate, fit, get_context, predict, seed_everything
from nivalis.engine.records import write_run_files
from nivalis.errors import UserError
from nivalis.models import create_model
from nivalis.profile import count

DIGITS_RECIPE = dict(batch_size=32, lr=3e-3, scheduler="cosine")


@dataclass
class ClassifierRun:
    model_name: str
    data: ClassificationData
    result: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    confusion: np.ndarray | None = None
    model: torch.nn.Module | None = None


def build_model(name: str, data: ClassificationData, *, factory: Callable[..., torch.nn.Module] = create_model,
                **model_kwargs) -> tuple[torch.nn.Module, dict[str, int]]:
    """Create `name` for `data`'s classes and channels with `factory`; check it accepts the data's image size.

    `factory` is `create_model` for a zoo network; callers that pass `block=` or `ops=` keywords give
    `nivalis.models.variants.create_variant` (the engine itself knows no search space).
    """
    model = factory(name, num_classes=data.num_classes, in_chans=data.in_chans, **model_kwargs)
    try:
        counts = count(model, data.input_shape)
    except RuntimeError as exc:
        shape = "x".join(map(str, data.input_shape))
        raise UserError(f"model {name!r} cannot take {shape} images: {str(exc).splitlines()[0][:140]}") from None
    return model, counts


def train_classifier(model_name: str, data: ClassificationData | str = "digits", *, data_dir: str | None = None,
                     config: TrainConfig | None = None, out_dir: str | Path | None = None, resume: bool = False,
                     model_kwargs: dict | None = None, desc: str | None = None,
                     factory: Callable[..., torch.nn.Module] = create_model, force: bool = False) -> ClassifierRun:
    """Train `model_name` on a classification data set and test it; write checkpoint + metrics to `out_dir`."""
    cfg = config or TrainConfig()
    if isinstance(data, str):
        data = load_classification(data, data_dir)
    model_kwargs = dict(model_kwargs or {})
    # Initial weights are not an architecture setting: kept out of the checkpoint's model_kwargs (rebuilt later).
    pretrained = model_kwargs.pop("pretrained", None)
    seed_everything(cfg.seed)
    if pretrained is not None:
        model_kwargs_build = {**model_kwargs, "pretrained": pretrained}
    else:
        model_kwargs_build = model_kwargs
    model, counts = build_model(model_name, data, factory=factory, **model_kwargs_build)
    task = classification_task(data.num_classes)
    meta = {"task": "classification", "model": model_name, "model_kwargs": model_kwargs, "data": data.name,
            "num_classes": data.num_classes, "in_chans": data.in_chans, "input_shape": list(data.input_shape),
            "pretrained": str(pretrained) if pretrained else None}
    fitted = fit(model, data.train, data.val, config=cfg, task=task, out_dir=out_dir, resume=resume, meta=meta,
                 desc=desc or model_name, force=force)
    test = evaluate(model, data.test, task, batch_size=cfg.eval_batch_size)
    logits = predict(model, data.test, batch_size=cfg.eval_batch_size)
    labels = data.test.tensors[1]
    confusion = np.zeros((data.num_classes, data.num_classes), dtype=np.int64)
    np.add.at(confusion, (labels.numpy(), logits.argmax(1).numpy()), 1)
    result = {
        "model": model_name, "data": data.name, "test_accuracy": test["accuracy"], "test_loss": test["loss"],
        "val_accuracy": fitted.history[-1].get("val_accuracy") if fitted.history else None,
        "params": counts["params"], "flops": counts["flops"], "epochs": cfg.epochs, "seed": cfg.seed,
        "precision": cfg.precision,
        **({"resumed": fitted.resume} if fitted.resume else {}),
        "seconds": round(fitted.seconds, 3),
        "checkpoint": str(fitted.checkpoint) if fitted.checkpoint else None,
    }
    if pretrained:
        result["pretrained"] = getattr(model, "pretrained_report", {"file": str(pretrained)})
    if out_dir is not None and get_context().is_main:
        write_run_files(out_dir, result, fitted.history)
    return ClassifierRun(model_name, data, result, fitted.history, confusion, model)


def train_zoo_model(model_name: str, data: str = "digits", *, data_dir: str | Path | None = None,
                    download: bool = False, config: TrainConfig | None = None, out_dir: str | Path | None = None,
                    block: str | None = None, pretrained: str | Path | None = None, resume: bool = False,
                    force: bool = False) -> ClassifierRun:
    """What `nivalis train` does: check the output folder (default `runs/MODEL-DATA`), fetch the data set if asked,
    build the model (with seed 003's `block` swapped in, from `pretrained` weights) and `train_classifier` it."""
    from nivalis.files import prepare_output_dir
    from nivalis.models.variants import create_variant

    out = prepare_output_dir(out_dir or Path("runs") / f"{model_name}-{data}")
    data_dir = str(data_dir) if data_dir else None
    if download:
        from nivalis.data import load_with_download

        data = load_with_download(data, data_dir, download=True)
    model_kwargs: dict = {"block": block} if block else {}
    if pretrained is not None:
        model_kwargs["pretrained"] = str(pretrained)
    return train_classifier(model_name, data, data_dir=data_dir, config=config, out_dir=out, resume=resume,
                            model_kwargs=model_kwargs or None, factory=create_variant, force=force)
