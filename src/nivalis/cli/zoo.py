"""`nivalis zoo`: list, profile and export the registered architectures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup

app = typer.Typer(help="The model zoo: list, profile (params, FLOPs, latency, data flow), export to ONNX.",
                  no_args_is_help=True)


@app.command("list")
def list_(
    pattern: Annotated[str | None, typer.Argument(help="Shell-style filter, e.g. 'resnet*'.")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List registered models with their family and parameter count (at their default num_classes/in_chans)."""
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.models import list_models, model_family
    from nivalis.profile.meta import param_count
    from nivalis.progress import progress

    names = list_models(pattern)
    if pattern and not names:
        raise UserError(f"no registered model matches {pattern!r} (see `nivalis zoo list`)")
    # Built on the meta device: exact counts without allocating or initialising weights.
    params = {n: param_count(n) for n in progress(names, total=len(names), desc="counting parameters")}
    rows = [{"name": n, "family": model_family(n), "params": params[n]} for n in names]
    lines = [f"{'model':<28} {'family':<14} {'params':>13}"]
    lines += [f"{r['name']:<28} {r['family']:<14} {r['params']:>13,}" for r in rows]
    emit({"models": names, "families": {r["name"]: r["family"] for r in rows}, "params": params, "rows": rows},
         as_json, human="\n".join(lines))


@app.command()
def profile(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    input: Annotated[str, typer.Option("--input", help="Input shape CxHxW.")] = "3x224x224",
    num_classes: Annotated[int, typer.Option(min=1)] = 1000,
    runs: Annotated[int, typer.Option(min=1, help="Timed forward passes for the latency median.")] = 10,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Parameters, FLOPs (FlopCounterMode, multiply-add = 2), CPU latency and per-layer data flow."""
    setup(quiet)
    from nivalis.models import create_model
    from nivalis.profile import count, dataflow, latency_ms, parse_input_shape
    from nivalis.errors import UserError

    shape = parse_input_shape(input)
    model = create_model(name, num_classes=num_classes, in_chans=shape[0])
    try:
        counts = count(model, shape)
    except RuntimeError as exc:
        raise UserError(f"model {name!r} cannot take input {input}: {str(exc).splitlines()[0][:140]}") from None
    result = {"model": name, "input": list(shape), **counts,
              "latency_ms": latency_ms(model, shape, runs=runs), "dataflow": dataflow(model, shape)}
    human = (f"{name} at {input}: {counts['params']:,} params, {counts['flops'] / 1e9:.3f} GFLOPs, "
             f"{result['latency_ms']:.2f} ms (CPU, batch 1)\n" +
             "\n".join(f"  {r['layer']:<40} {'x'.join(map(str, r['shape'])):>16} {r['floats']:>12,}"
                       for r in result["dataflow"]))
    emit(result, as_json, human=human)


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    onnx: Annotated[Path, typer.Option("--onnx", help="Output .onnx path.")],
    input: Annotated[str, typer.Option("--input", help="Input shape CxHxW.")] = "3x224x224",
    num_classes: Annotated[int, typer.Option(min=1)] = 1000,
    checkpoint: Annotated[Path | None, typer.Option(help="Weights from a `nivalis train` checkpoint.")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export to ONNX and check onnxruntime against PyTorch (max_abs_diff)."""
    setup(quiet)
    from nivalis.engine import load_checkpoint
    from nivalis.errors import UserError
    from nivalis.nas.variants import create_variant
    from nivalis.profile import export_onnx, parse_input_shape

    shape = parse_input_shape(input)
    kwargs = {"num_classes": num_classes, "in_chans": shape[0]}
    state = None
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint)
        meta = ckpt.get("meta", {})
        if meta.get("model") and meta["model"] != name:
            raise UserError(f"checkpoint {checkpoint} holds {meta['model']!r}, not {name!r}")
        kwargs.update(num_classes=meta.get("num_classes", num_classes), in_chans=meta.get("in_chans", shape[0]),
                      **meta.get("model_kwargs", {}))
        if meta.get("input_shape"):
            shape = tuple(meta["input_shape"])
        state = ckpt["model"]
    model = create_variant(name, **kwargs)  # a checkpoint's model_kwargs may swap blocks or set NAR operators
    if state is not None:
        model.load_state_dict(state)
    if onnx.parent and not onnx.parent.exists():
        raise UserError(f"output folder does not exist: {onnx.parent}")
    try:
        result = export_onnx(model, shape, onnx)
    except RuntimeError as exc:
        raise UserError(f"cannot export {name!r} at {input}: {str(exc).splitlines()[0][:140]}") from None
    emit({"model": name, **result}, as_json)


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

    from nivalis.experiments.effnet_compare import CompareConfig, compare_models, markdown_table, parse_models
    from nivalis.data import load_with_download

    specs, preset_data = parse_models(models, preset)
    data_name = data or preset_data or "digits"
    dataset = load_with_download(data_name, str(data_dir) if data_dir else None, download)
    cfg = CompareConfig(runs=runs, epochs=epochs, batch_size=batch_size, seed=seed, threads=threads or None,
                        precision=precision)
    out = out or Path("runs") / f"compare-{data_name}"
    show = (lambda msg: print(msg, file=sys.stderr, flush=True)) if not (quiet or as_json) else None
    result = compare_models(specs, dataset, cfg, out_dir=out, log=show)
    payload = {"data": result.data, "preset": preset, "rows": result.rows, "note": result.note,
               "config": result.config, "seconds": round(result.seconds, 2),
               **{k: str(v) for k, v in result.paths.items()}}
    human = f"{markdown_table(result.rows)}\n{result.note}\n\n" + "\n".join(
        f"{k:>9}: {v}" for k, v in result.paths.items())
    emit(payload, as_json, human=human)
