"""`nivalis zoo`: list, profile and export the registered architectures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup

app = typer.Typer(help="The model zoo: list, profile (params, FLOPs, latency, data flow), export to ONNX.",
                  no_args_is_help=True)


PretrainedOpt = Annotated[Path | None, typer.Option(
    help="Weights file: torchvision .pth, timm .pth/.safetensors, insightface backbone.pth or a nivalis checkpoint "
         "(read locally), or hf-hub:ORG/NAME from the local Hugging Face cache.")]


def _emit(result: dict, as_json: bool, human: str | None = None) -> None:
    """Print the result; a note on weights loaded from --pretrained goes to stderr as well."""
    note = result.get("pretrained", {}).get("note")
    if note:
        import sys

        print(f"note: {note}", file=sys.stderr)
    emit(result, as_json, human=human)


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
    from nivalis.profile.zoo import zoo_listing

    listing = zoo_listing(pattern)
    lines = [f"{'model':<28} {'family':<14} {'params':>13}"]
    lines += [f"{r['name']:<28} {r['family']:<14} {r['params']:>13,}" for r in listing["rows"]]
    emit(listing, as_json, human="\n".join(lines))


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
    from nivalis.profile.zoo import profile_model

    result = profile_model(name, input=input, num_classes=num_classes, pretrained=pretrained, runs=runs)
    shape = input or "x".join(map(str, result["input"]))
    human = (f"{name} at {shape}: {result['params']:,} params, {result['flops'] / 1e9:.3f} GFLOPs, "
             f"{result['latency_ms']:.2f} ms (CPU, batch 1)\n" +
             "\n".join(f"  {r['layer']:<40} {'x'.join(map(str, r['shape'])):>16} {r['floats']:>12,}"
                       for r in result["dataflow"]))
    _emit(result, as_json, human=human)


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
    from nivalis.profile.zoo import export_model

    _emit(export_model(name, onnx, input=input, num_classes=num_classes,
                       checkpoint=load_checkpoint(checkpoint) if checkpoint is not None else None,
                       checkpoint_file=checkpoint, pretrained=pretrained, int8=int8, calibrate=calibrate,
                       data_dir=data_dir, calibration_images=calibration_images), as_json)


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
