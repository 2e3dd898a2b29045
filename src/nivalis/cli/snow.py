"""`nivalis snow`: simulate, inspect, reproduce Table II, train and predict snow-layer thickness (seed 000)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup
from nivalis.snow.config import SnowConfig as _Cfg  # defaults come from the config (the seed's values)

app = typer.Typer(help="Snow accumulation from Snow Radar layers: GCN-LSTM on temporal graphs (seed 000).",
                  no_args_is_help=True)

EpochsOpt = Annotated[int, typer.Option(min=1, help="Training epochs (seed: 150).")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the splits, weights, shuffling and dropout.")]
PrecisionOpt = Annotated[str, typer.Option(help="fp32, or bf16 (autocast: about 2x faster on CPU; check the RMSE).")]
DeviceOpt = Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto (a GPU when PyTorch sees one).")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Radargrams per optimiser step (dense batches).")]
FeatureLayersOpt = Annotated[int, typer.Option(min=1, help="Feature layers per radargram (seed: 10).")]
TargetLayersOpt = Annotated[int, typer.Option(min=1, help="Target layers per radargram (seed: 5).")]
DirectionOpt = Annotated[str, typer.Option(help="deep_to_shallow (seed) or shallow_to_deep (predict deeper layers).")]
ExtraOpt = Annotated[str, typer.Option(help="Comma-separated extra node features from the files, e.g. Elevation,curr_smb.")]
ThreadsOpt = Annotated[int | None, typer.Option(min=1, help="Intra-op threads per training (1 is faster when "
                                                "other jobs share the cores) [default: torch's].")]
LearnAdjOpt = Annotated[bool, typer.Option("--learnable-adjacency", help="Train an edge-weight matrix on top of the "
                                           "haversine weights (seed §VI-A.3).")]


def _config(**kw):
    from nivalis.snow.config import SnowConfig

    extra = kw.pop("extra_features", "") or ""
    kw["extra_features"] = tuple(x.strip() for x in extra.split(",") if x.strip())
    models = kw.pop("models", None)
    if models:
        kw["models"] = tuple(m.strip() for m in models.split(",") if m.strip())
    cfg = SnowConfig(**kw).validate()
    if "device" in kw:
        from nivalis.engine import resolve_device

        cfg.device = str(resolve_device(cfg.device))  # a missing GPU fails here, before any data is read
    return cfg


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for the radargram .mat files.")],
    radargrams: Annotated[int, typer.Option(min=1, help="Radargrams (frames of 256 traces) to write.")] = 816,
    seed: Annotated[int, typer.Option(help="Seed of the campaign (flight lines, climate fields, tracking).")] = 0,
    echograms: Annotated[bool, typer.Option("--echograms", help="Also write echogram images (Data, 1200-1700 "
                                            "rows; about 0.3 MB per file).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="v7.3 (HDF5, as the processed set) or v5.")] = "v7.3",
    quality_db: Annotated[float, typer.Option(help="Mean echo quality (dB): layers are tracked while it exceeds "
                                              "1.5 dB per m of depth, so higher keeps more radargrams usable "
                                              "(22: 508 of 816 at seed 0; 24: 578, the seed has 568).")] = 22.0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Simulate a Snow Radar campaign over Greenland and write it in the processed .mat format."""
    setup(quiet)
    from nivalis.snow.simulate import SimulatorConfig, simulate_campaign

    result = simulate_campaign(out, SimulatorConfig(radargrams=radargrams, seed=seed, echograms=echograms, fmt=fmt,
                                                    quality_mean_db=quality_db))
    emit(result, as_json, human=f"wrote {result['files']} radargrams ({result['usable']} usable) to {out} "
                                f"in {result['seconds']:.1f} s")


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="A radargram .mat file (or a folder of them for a summary).")],
    feature_layers: FeatureLayersOpt = _Cfg.feature_layers,
    target_layers: TargetLayersOpt = _Cfg.target_layers,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Layers, columns, usability and mean layer thickness (pixels, top-down) of a processed radargram."""
    setup(quiet)
    from nivalis.snow.io import load_radargram, load_radargram_folder

    rows = 1 + feature_layers + target_layers
    if path.is_dir():
        _, summary = load_radargram_folder(path, rows_needed=rows)
        result = summary.to_dict()
        emit(result, as_json, human=f"{result['files']} files: {result['usable']} usable, {result['unusable']} "
                                    f"unusable {result['unusable_reasons']}, {result['bad']} unreadable")
        return
    result = load_radargram(path).summary(rows_needed=rows)
    thick = ", ".join("–" if v is None else f"{v:.1f}" for v in result["thickness_px"][:20])
    more = " ..." if len(result["thickness_px"]) > 20 else ""
    human = (f"{path}: MAT {result['format']}, {result['layers']} layer rows × {result['columns']} columns, "
             f"{'usable' if result['usable'] else 'NOT usable: ' + result['reason']}\n"
             f"  mean thickness per layer (px, top-down): {thick}{more}\n"
             f"  latitude {result['latitude'][0]:.4f}..{result['latitude'][1]:.4f}, "
             f"longitude {result['longitude'][0]:.4f}..{result['longitude'][1]:.4f}; fields: "
             f"{', '.join(result['fields']) or '-'}; echogram: {result['echogram'] or '-'}")
    emit(result, as_json, human=human)


@app.command()
def paper(
    data: Annotated[Path, typer.Option(help="Folder of radargram .mat files (try `nivalis snow simulate`).")],
    epochs: EpochsOpt = _Cfg.epochs,
    splits: Annotated[int, typer.Option(min=1, help="Random 4:1 train/test permutations (seed: 5).")] = _Cfg.splits,
    seed: SeedOpt = 0,
    models: Annotated[str, typer.Option(help="Comma-separated models to compare.")] = "lstm,gcn,gcn_lstm",
    precision: PrecisionOpt = "fp32",
    device: DeviceOpt = "cpu",
    batch_size: BatchOpt = _Cfg.batch_size,
    feature_layers: FeatureLayersOpt = _Cfg.feature_layers,
    target_layers: TargetLayersOpt = _Cfg.target_layers,
    direction: DirectionOpt = "deep_to_shallow",
    extra_features: ExtraOpt = "",
    learnable_adjacency: LearnAdjOpt = False,
    workers: Annotated[int, typer.Option(min=1, help="Trainings run at once in separate processes (2 on a 2-core "
                                         "CPU: each with --threads, default 1).")] = 1,
    threads: ThreadsOpt = None,
    out: Annotated[Path, typer.Option(help="Where Table II (md, csv), results.json and figures 3-4 go.")] = Path(
        "runs/snow-paper"),
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Reproduce Table II and figures 3-4: LSTM, GCN and GCN-LSTM on random 4:1 splits, RMSE per year."""
    setup(quiet)
    from nivalis.experiments.snow_table2 import ordering_text, paired_differences, run_paper, table_markdown

    cfg = _config(epochs=epochs, splits=splits, seed=seed, models=models, precision=precision, device=device,
                  batch_size=batch_size, feature_layers=feature_layers, target_layers=target_layers,
                  direction=direction, extra_features=extra_features, learnable_adjacency=learnable_adjacency)
    result = run_paper(data, cfg, out, workers=workers, threads=threads)
    payload = {"table": result.table, "seconds": round(result.seconds, 3), "years": result.years,
               "paired": paired_differences(result.runs), "data": result.summary, "files": result.files}
    emit(payload, as_json, human=table_markdown(result) + f"\n{ordering_text(result.table, result.runs)}\n"
         f"{result.summary.get('usable')} usable radargrams "
         f"({result.summary.get('files')} files); {result.seconds:.0f} s; written to {out}")


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Folder of radargram .mat files.")],
    model: Annotated[str, typer.Option("--model", "-m", help="gcn_lstm, gcn or lstm.")] = "gcn_lstm",
    epochs: EpochsOpt = _Cfg.epochs,
    seed: SeedOpt = 0,
    split: Annotated[int, typer.Option(min=0, help="Which random 4:1 permutation to train on (0 = the first).")] = 0,
    precision: PrecisionOpt = "fp32",
    device: DeviceOpt = "cpu",
    batch_size: BatchOpt = _Cfg.batch_size,
    feature_layers: FeatureLayersOpt = _Cfg.feature_layers,
    target_layers: TargetLayersOpt = _Cfg.target_layers,
    direction: DirectionOpt = "deep_to_shallow",
    extra_features: ExtraOpt = "",
    learnable_adjacency: LearnAdjOpt = False,
    out: Annotated[Path | None, typer.Option(help="Run folder [default: runs/snow-MODEL].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train one thickness model (checkpoint every epoch, --resume, torchrun for several processes)."""
    setup(quiet)
    import torch

    from nivalis.snow.train import train_snow

    if threads:
        torch.set_num_threads(threads)
    cfg = _config(epochs=epochs, seed=seed, precision=precision, device=device, batch_size=batch_size,
                  feature_layers=feature_layers, target_layers=target_layers, direction=direction,
                  extra_features=extra_features, learnable_adjacency=learnable_adjacency, models=model)
    result = train_snow(data, model, cfg, out or Path("runs") / f"snow-{model}", resume=resume, split=split)
    rmse = ", ".join(f"{y} {v:.3f}" for y, v in result["rmse"].items())
    emit(result, as_json, human=f"{model}: test RMSE (px) {rmse}; total {result['total_rmse']:.3f}; "
                                f"{result['seconds']:.0f} s; checkpoint {result['checkpoint']}")


@app.command()
def predict(
    path: Annotated[Path, typer.Argument(help="A radargram .mat file, or a folder of them (files that cannot be "
                                              "read or used are skipped and counted).")],
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt from `nivalis snow train`.")],
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="Also write one row per trace (file, its role in the checkpoint's split: train/test/new, "
                      "latitude, longitude, predicted and tracked px per year); opens as a point layer in QGIS.")
    ] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Predict the thickness (pixels) of the target layers at every trace of one radargram or a folder."""
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.snow.predict import predict_path

    if csv_out is not None and csv_out.is_dir():  # before the work, not after it
        raise UserError(f"--csv {csv_out} is a folder; give a file name, e.g. {csv_out / 'prediction.csv'}")
    prediction = predict_path(checkpoint, path)
    result = prediction.result
    if csv_out is not None:
        result["csv"] = str(prediction.write_csv(csv_out))
    if "folder" in result:
        data, roles = result["data"], result["roles"]
        lines = [f"{path} ({result['model']}): {result['predicted']} of {data['files']} files predicted "
                 f"({data['bad']} unreadable, {data['unusable']} not usable; {roles['train']} in the model's "
                 f"training set, {roles['test']} held out by it, "
                 + (f"{roles['new']} new)" if "new" in roles else f"{roles['unknown']} not known to the checkpoint)"),
                 "mean predicted thickness and RMSE against the tracked layers (px), all files"]
    else:
        lines = [f"{path} ({result['model']}, {result['role']} radargram of the checkpoint): mean predicted "
                 "thickness and RMSE against the tracked layers (px)"]
    for k, year in enumerate(result["years"]):
        mean = float(prediction.predicted[..., k].mean())
        lines.append(f"  {year}: {mean:7.2f}   RMSE {result['rmse_px'][year]:.3f}")
    lines.append(f"  total RMSE {result['total_rmse_px']:.3f}")
    if "held_out" in result:
        held = result["held_out"]
        lines.append(f"  total RMSE on the {held['radargrams']} radargrams it never trained on: "
                     f"{held['total_rmse_px']:.3f}")
    if csv_out is not None:
        lines.append(f"per trace → {result['csv']}")
    emit(result, as_json, human="\n".join(lines))
