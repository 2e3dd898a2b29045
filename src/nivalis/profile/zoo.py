"""The zoo as library calls: every model with its family and counts, one model profiled, one exported to ONNX."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from nivalis.errors import UserError
from nivalis.models import create_model, default_cfg, list_models, model_family
from nivalis.profile.counts import count, parse_input_shape

__all__ = ["export_model", "model_input", "profile_model", "zoo_listing"]


def model_input(name: str, input: str | None = None,
                num_classes: int | None = None) -> tuple[tuple[int, ...], int, str]:
    """(input shape, num_classes, input text): the values given, else the model's default configuration."""
    cfg = default_cfg(name)
    if input is None:
        input = "x".join(map(str, cfg.input_size))
    return parse_input_shape(input), cfg.num_classes if num_classes is None else num_classes, input


def zoo_listing(pattern: str | None = None) -> dict:
    """{"models", "families", "params", "rows", "default_cfg"} of the registered models matching `pattern`.

    Parameters are counted at each model's default num_classes/in_chans on the meta device: exact counts
    without allocating or initialising weights.
    """
    from nivalis.profile.meta import param_count
    from nivalis.progress import progress

    names = list_models(pattern)
    if pattern and not names:
        raise UserError(f"no registered model matches {pattern!r} (see `nivalis zoo list`)")
    params = {n: param_count(n) for n in progress(names, total=len(names), desc="counting parameters")}
    cfgs = {n: default_cfg(n).to_dict() for n in names}
    rows = [{"name": n, "family": model_family(n), "params": params[n], "default_cfg": cfgs[n]} for n in names]
    return {"models": names, "families": {r["name"]: r["family"] for r in rows}, "params": params, "rows": rows,
            "default_cfg": cfgs}


def _pretrained(model) -> dict:
    """{"pretrained": what was loaded} when the weights came from a `pretrained` file, else {}."""
    report = getattr(model, "pretrained_report", None)
    return {"pretrained": report} if report else {}


def profile_model(name: str, *, input: str | None = None, num_classes: int | None = None,
                  pretrained: str | os.PathLike | None = None, runs: int = 10) -> dict:
    """Parameters, FLOPs, CPU latency (median of `runs`, batch 1) and per-layer data flow of zoo model `name`."""
    from nivalis.profile.dataflow import dataflow
    from nivalis.profile.latency import latency_ms
    from nivalis.profile.meta import check_fits

    shape, num_classes, input = model_input(name, input, num_classes)
    check_fits(name, shape, what="zoo profile", num_classes=num_classes, in_chans=shape[0])
    model = create_model(name, num_classes=num_classes, in_chans=shape[0], pretrained=pretrained)
    try:
        counts = count(model, shape)
    except RuntimeError as exc:
        raise UserError(f"model {name!r} cannot take input {input}: {str(exc).splitlines()[0][:140]}") from None
    return {"model": name, "input": list(shape), **_pretrained(model), **counts,
            "latency_ms": latency_ms(model, shape, runs=runs), "dataflow": dataflow(model, shape)}


def _calibration_data(calibrate: str, data_dir: str | os.PathLike | None, shape: tuple[int, ...]):
    """The calibration data set (a name, or a folder whose layout names it), checked against the model's input."""
    from nivalis.data import load_named_or_folder

    data = load_named_or_folder(calibrate, data_dir, purpose="to calibrate with")
    if tuple(data.input_shape) != tuple(shape):
        raise UserError(f"{data.name} images are {'x'.join(map(str, data.input_shape))}, the model takes "
                        f"{'x'.join(map(str, shape))}")
    return data


def export_model(name: str | None, onnx: str | os.PathLike | None, *, input: str | None = None,
                 num_classes: int | None = None, checkpoint: Mapping | None = None,
                 checkpoint_file: str | os.PathLike | None = None, pretrained: str | os.PathLike | None = None,
                 int8: bool = False, calibrate: str | None = None, data_dir: str | os.PathLike | None = None,
                 calibration_images: int = 512) -> dict:
    """Export zoo model `name` (or the network of a loaded `nivalis train` `checkpoint`) to `onnx`.

    Returns {"model", ["pretrained"], "onnx", "max_abs_diff"} (onnxruntime against PyTorch); with `int8` and
    `calibrate` (a data set name or a folder holding one) also {"int8", "calibration", "accuracy_fp32",
    "accuracy_int8"}. `checkpoint_file` names the checkpoint in messages.
    """
    from nivalis.files import prepare_output_file
    from nivalis.models.variants import checkpoint_model_name, create_variant, model_from_checkpoint
    from nivalis.profile.onnx import export_onnx
    from nivalis.profile.quantize import int8_export

    if onnx is None:
        raise UserError("give the output file: --onnx OUT.onnx")
    if checkpoint is not None and pretrained is not None:
        raise UserError("give either --checkpoint or --pretrained, not both")
    if int8 != (calibrate is not None):
        raise UserError("--int8 needs --calibrate DATA (and --calibrate is only for --int8)")
    onnx = Path(onnx)
    prepare_output_file(onnx, option="--onnx")  # a folder, /proc or a read-only place fails before the export
    if checkpoint is not None:
        name = checkpoint_model_name(checkpoint, name, str(checkpoint_file))
    elif name is None:
        raise UserError("give a model NAME, or --checkpoint of a `nivalis train` run (its meta names the model)")
    shape, num_classes, input = model_input(name, input, num_classes)
    kwargs = {"num_classes": num_classes, "in_chans": shape[0], "pretrained": pretrained}
    if checkpoint is not None and checkpoint.get("meta", {}).get("input_shape"):
        shape = tuple(checkpoint["meta"]["input_shape"])
    if checkpoint is None:
        from nivalis.profile.meta import check_fits

        check_fits(name, shape, what="zoo export", num_classes=num_classes, in_chans=shape[0])
    data = _calibration_data(calibrate, data_dir, shape) if int8 else None
    model = (model_from_checkpoint(checkpoint, name, **kwargs) if checkpoint is not None
             else create_variant(name, **kwargs))
    if onnx.parent and not onnx.parent.exists():
        raise UserError(f"output folder does not exist: {onnx.parent}")
    try:
        result = export_onnx(model, shape, onnx)
    except RuntimeError as exc:
        raise UserError(f"cannot export {name!r} at {input}: {str(exc).splitlines()[0][:140]}") from None
    if data is not None:
        result.update(int8_export(result["onnx"], data, calibration_images))
    return {"model": name, **_pretrained(model), **result}
