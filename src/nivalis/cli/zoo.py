"""`nivalis zoo`: list, profile and export the registered architectures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup

app = typer.Typer(help="The model zoo: list, profile (params, FLOPs, latency, data flow), export to ONNX.",
                  no_args_is_help=True)


PretrainedOpt = Annotated[Path | None, typer.Option(
    help="Weights file: torchvision .pth, timm .pth/.safetensors or a nivalis checkpoint (read locally).")]


def _defaults(name: str, input: str | None, num_classes: int | None) -> tuple[tuple[int, ...], int, str]:
    """(input shape, num_classes, input text): the options given, else the model's default configuration."""
    from nivalis.models import default_cfg
    from nivalis.profile import parse_input_shape

    cfg = default_cfg(name)
    if input is None:
        input = "x".join(map(str, cfg.input_size))
    return parse_input_shape(input), cfg.num_classes if num_classes is None else num_classes, input


def _pretrained_report(model) -> dict:
    """{"pretrained": what was loaded} when weights came from --pretrained; the note goes to stderr too."""
    report = getattr(model, "pretrained_report", None)
    if not report:
        return {}
    if report["note"]:
        import sys

        print(f"note: {report['note']}", file=sys.stderr)
    return {"pretrained": report}


@app.command("list")
def list_(
    pattern: Annotated[str | None, typer.Argument(help="Shell-style filter, e.g. 'resnet*'.")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List registered models with their family and parameter count (at their default num_classes/in_chans).

    `--json` also gives each model's default configuration (`default_cfg`: input size, classes, mean/std,
    interpolation, classifier layer, published weights and their file).
    """
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.models import default_cfg, list_models, model_family
    from nivalis.profile.meta import param_count
    from nivalis.progress import progress

    names = list_models(pattern)
    if pattern and not names:
        raise UserError(f"no registered model matches {pattern!r} (see `nivalis zoo list`)")
    # Built on the meta device: exact counts without allocating or initialising weights.
    params = {n: param_count(n) for n in progress(names, total=len(names), desc="counting parameters")}
    cfgs = {n: default_cfg(n).to_dict() for n in names}
    rows = [{"name": n, "family": model_family(n), "params": params[n], "default_cfg": cfgs[n]} for n in names]
    lines = [f"{'model':<28} {'family':<14} {'params':>13}"]
    lines += [f"{r['name']:<28} {r['family']:<14} {r['params']:>13,}" for r in rows]
    emit({"models": names, "families": {r["name"]: r["family"] for r in rows}, "params": params, "rows": rows,
          "default_cfg": cfgs},
         as_json, human="\n".join(lines))


@app.command()
def profile(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    input: Annotated[str | None, typer.Option(
        "--input", help="Input shape CxHxW [default: the model's native input, see `zoo list --json`].")] = None,
    num_classes: Annotated[int | None, typer.Option(min=1, help="[default: the model's own]")] = None,
    pretrained: PretrainedOpt = None,
    runs: Annotated[int, typer.Option(min=1, help="Timed forward passes for the latency median.")] = 10,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Parameters, FLOPs (FlopCounterMode, multiply-add = 2), CPU latency and per-layer data flow."""
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.models import create_model
    from nivalis.profile import count, dataflow, latency_ms

    shape, num_classes, input = _defaults(name, input, num_classes)
    model = create_model(name, num_classes=num_classes, in_chans=shape[0], pretrained=pretrained)
    try:
        counts = count(model, shape)
    except RuntimeError as exc:
        raise UserError(f"model {name!r} cannot take input {input}: {str(exc).splitlines()[0][:140]}") from None
    result = {"model": name, "input": list(shape), **_pretrained_report(model), **counts,
              "latency_ms": latency_ms(model, shape, runs=runs), "dataflow": dataflow(model, shape)}
    human = (f"{name} at {input}: {counts['params']:,} params, {counts['flops'] / 1e9:.3f} GFLOPs, "
             f"{result['latency_ms']:.2f} ms (CPU, batch 1)\n" +
             "\n".join(f"  {r['layer']:<40} {'x'.join(map(str, r['shape'])):>16} {r['floats']:>12,}"
                       for r in result["dataflow"]))
    emit(result, as_json, human=human)


@app.command()
def export(
    name: Annotated[str | None, typer.Argument(
        help="Registered model name [default: the model of --checkpoint].")] = None,
    onnx: Annotated[Path | None, typer.Option("--onnx", help="Output .onnx path.")] = None,
    input: Annotated[str | None, typer.Option(
        "--input", help="Input shape CxHxW [default: the model's native input].")] = None,
    num_classes: Annotated[int | None, typer.Option(min=1, help="[default: the model's own]")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Weights from a `nivalis train` checkpoint.")] = None,
    pretrained: PretrainedOpt = None,
    int8: Annotated[bool, typer.Option("--int8", help="Also write an int8 model (ONNX Runtime static "
                                                      "quantization, QDQ, per-channel weights) next to OUT.")] = False,
    calibrate: Annotated[str | None, typer.Option(
        help="Data set for --int8: calibration batches from its training split, accuracy on its test split "
             "(digits, cifar10, svhn, gtsrb, or a folder holding one of the last three).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Directory of the --calibrate data set.")] = None,
    calibration_images: Annotated[int, typer.Option(min=1, help="Training images used for calibration.")] = 512,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export to ONNX and check onnxruntime against PyTorch (max_abs_diff); `--int8` adds an int8 model.

    With `--int8 --calibrate DATA` the JSON also has `int8` (path of OUT.int8.onnx), `accuracy_fp32` and
    `accuracy_int8` (both onnxruntime, on DATA's test split).
    """
    setup(quiet)
    from nivalis.engine import load_checkpoint
    from nivalis.errors import UserError
    from nivalis.nas.variants import create_variant
    from nivalis.profile import export_onnx

    if onnx is None:
        raise UserError("give the output file: --onnx OUT.onnx")
    if checkpoint is not None and pretrained is not None:
        raise UserError("give either --checkpoint or --pretrained, not both")
    if int8 != (calibrate is not None):
        raise UserError("--int8 needs --calibrate DATA (and --calibrate is only for --int8)")
    from nivalis.files import prepare_output_file

    prepare_output_file(onnx, option="--onnx")  # a folder, /proc or a read-only place fails before the export
    ckpt = load_checkpoint(checkpoint) if checkpoint is not None else None
    meta = ckpt.get("meta", {}) if ckpt else {}
    if name is None:
        if not meta.get("model"):
            raise UserError("give a model NAME, or --checkpoint of a `nivalis train` run (its meta names the model)")
        name = meta["model"]
    shape, num_classes, input = _defaults(name, input, num_classes)
    kwargs = {"num_classes": num_classes, "in_chans": shape[0], "pretrained": pretrained}
    if ckpt is not None:
        if meta.get("model") and meta["model"] != name:
            raise UserError(f"checkpoint {checkpoint} holds {meta['model']!r}, not {name!r}")
        kwargs.update(num_classes=meta.get("num_classes", num_classes), in_chans=meta.get("in_chans", shape[0]),
                      **meta.get("model_kwargs", {}))
        if meta.get("input_shape"):
            shape = tuple(meta["input_shape"])
    data = _calibration_data(calibrate, data_dir, shape) if int8 else None
    model = create_variant(name, **kwargs)  # a checkpoint's model_kwargs may swap blocks or set NAR operators
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
    if onnx.parent and not onnx.parent.exists():
        raise UserError(f"output folder does not exist: {onnx.parent}")
    try:
        result = export_onnx(model, shape, onnx)
    except RuntimeError as exc:
        raise UserError(f"cannot export {name!r} at {input}: {str(exc).splitlines()[0][:140]}") from None
    if data is not None:
        result.update(_int8(Path(result["onnx"]), data, calibration_images))
    emit({"model": name, **_pretrained_report(model), **result}, as_json)


def _calibration_data(calibrate: str, data_dir: Path | None, shape: tuple[int, ...]):
    """The --calibrate data set (a name, or a folder whose layout names it), checked against the model's input."""
    from nivalis.data import list_datasets, load_classification
    from nivalis.errors import UserError

    folder = Path(calibrate)
    if calibrate not in list_datasets() and folder.is_dir():
        layouts = {"cifar10": "data_batch_1", "svhn": "train_32x32.mat", "gtsrb": "Final_Training"}
        found = [n for n, marker in layouts.items() if any(folder.rglob(marker))]
        if not found:
            raise UserError(f"{folder} holds no CIFAR-10, SVHN or GTSRB files to calibrate with")
        calibrate, data_dir = found[0], folder
    data = load_classification(calibrate, str(data_dir) if data_dir else None)
    if tuple(data.input_shape) != tuple(shape):
        raise UserError(f"{calibrate} images are {'x'.join(map(str, data.input_shape))}, the model takes "
                        f"{'x'.join(map(str, shape))}")
    return data


def _int8(onnx_path: Path, data, calibration_images: int) -> dict:
    """Quantize `onnx_path` with batches of `data`'s training split; fp32 and int8 accuracy on its test split."""
    from nivalis.profile.quantize import onnx_accuracy, quantize_int8

    train_x = data.train.tensors[0][:calibration_images].numpy()
    batches = [train_x[i:i + 64] for i in range(0, len(train_x), 64)]
    int8_path = quantize_int8(onnx_path, onnx_path.with_suffix(".int8.onnx"), batches)
    test_x, test_y = data.test.tensors[0].numpy(), data.test.tensors[1].numpy()
    return {"int8": str(int8_path), "calibration": {"data": data.name, "images": len(train_x)},
            "accuracy_fp32": onnx_accuracy(onnx_path, test_x, test_y),
            "accuracy_int8": onnx_accuracy(int8_path, test_x, test_y)}


@app.command()
def compare(
    models: Annotated[str | None, typer.Option(
        "--models", help="Comma-separated networks; NAME:BLOCK swaps NAME's 3×3 convolutions for BLOCK "
                         "(effnet, effnet_v2_e4, mobilenet, shufflenet, mobilenetv2_e6, mob_imp). "
                         "The first is the reference of the FLOP factor.")] = None,
    preset: Annotated[str | None, typer.Option(
        help="A seed 003 table's networks: effnet-cifar, effnet-svhn, effnet-gtsrb (Tables 2-4), "
             "effnet-v2-cifar, effnet-v2-svhn, effnet-v2-gtsrb (Tables 5-7), effnet-digits (the demo).")] = None,
    data: Annotated[str | None, typer.Option(
        help="digits (embedded), cifar10, svhn or gtsrb [default: the preset's data set, else digits].")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Directory holding the data set in its real format.")] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch the official archives into --data-dir "
                                                              "first (MD5-checked; needs network).")] = False,
    runs: Annotated[int, typer.Option(min=1, help="Trainings per network, seeds SEED..SEED+RUNS-1 (seed: 5).")] = 5,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per training (not given in the seed).")] = 15,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size (not given in the seed).")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the first run.")] = 0,
    threads: Annotated[int, typer.Option(min=0, help="Intra-op CPU threads for training and latency "
                                                     "(0: PyTorch's default). One is fastest for these tiny "
                                                     "networks on a shared machine.")] = 1,
    precision: Annotated[str, typer.Option(help="fp32, or bf16 (CPU autocast; check the metric).")] = "fp32",
    int8: Annotated[bool, typer.Option("--int8", help="Also quantize each trained network (ONNX Runtime static, "
                                                      "calibrated on the training split) and print fp32 vs int8 "
                                                      "accuracy and latency side by side.")] = False,
    out: Annotated[Path | None, typer.Option(help="Output directory [default: runs/compare-DATA].")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train networks by the EffNet protocol (Adam lr 1e-3, β1 0.75, RUNS seeds) and tabulate accuracy, FLOPs, latency.

    Writes compare.md, compare.csv, compare.json and accuracy_vs_flops.png to OUT; finished runs
    in OUT are reused, so an interrupted comparison continues.
    """
    setup(quiet)
    import sys

    from nivalis.data import load_with_download
    from nivalis.experiments.effnet_compare import CompareConfig, compare_models, markdown_table, parse_models
    from nivalis.files import prepare_output_dir

    specs, preset_data = parse_models(models, preset)
    data_name = data or preset_data or "digits"
    out = out or Path("runs") / f"compare-{data_name}"
    prepare_output_dir(out)  # before the data is read and the networks trained
    dataset = load_with_download(data_name, str(data_dir) if data_dir else None, download)
    cfg = CompareConfig(runs=runs, epochs=epochs, batch_size=batch_size, seed=seed, threads=threads or None,
                        precision=precision, int8=int8)
    show = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not (quiet or as_json) else None
    result = compare_models(specs, dataset, cfg, out_dir=out, log=show)
    payload = {"data": result.data, "preset": preset, "rows": result.rows, "note": result.note,
               "config": result.config, "seconds": round(result.seconds, 2),
               **{k: str(v) for k, v in result.paths.items()}}
    human = f"{markdown_table(result.rows)}\n{result.note}\n\n" + "\n".join(
        f"{k:>9}: {v}" for k, v in result.paths.items())
    emit(payload, as_json, human=human)
