"""`nivalis snow`: simulate, inspect, reproduce Table II, train and predict snow-layer thickness (seed 000)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import ForceOpt, JsonOpt, QuietOpt, ResumeOpt, emit, option_group, setup
from nivalis.snow.config import SnowConfig as _Cfg  # defaults come from the config (the seed's values)
from nivalis.snow.units import FirnModel  # physical defaults (not in the seed, except the pixel size)

app = typer.Typer(help="Snow accumulation from Snow Radar layers: GCN-LSTM on temporal graphs (seed 000).",
                  no_args_is_help=True)

EpochsOpt = Annotated[int, typer.Option(min=1, help="Training epochs (seed: 150).")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the splits, weights, shuffling and dropout.")]
FeatureLayersOpt = Annotated[int, typer.Option(min=1, help="Feature layers per radargram (seed: 10).")]
TargetLayersOpt = Annotated[int, typer.Option(min=1, help="Target layers per radargram (seed: 5).")]
ThreadsOpt = Annotated[int | None, typer.Option(min=1, help="Intra-op threads per training (1 is faster when "
                                                "other jobs share the cores) [default: torch's].")]
ColumnsOpt = Annotated[int, typer.Option(min=1, help="Traces per radargram; wider CReSIS frames are cut into "
                                         "consecutive radargrams of this many (seed: 256), the rest reported.")]
SurveyYearOpt = Annotated[int | None, typer.Option(
    min=1900, max=2100, help="Year of the flights (the layer under the surface is the year before) [default: from "
                             f"the YYYYMMDD date in the file names or the GPS time, else {_Cfg.survey_year}].")]
LatlonOpt = Annotated[str | None, typer.Option(help="Seed-release image .mat: the field holding the 256x2 "
                                               "latitude/longitude matrix, when several could.")]
#: `snow_config` options that paper and train share, in their order (defaults: `SnowConfig`'s, no extra features)
TRAINING_OPTIONS = {
    "precision": Annotated[str, typer.Option(help="fp32, or bf16 (autocast: about 2x faster on CPU; check the RMSE).")],
    "device": Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto (a GPU when PyTorch sees one).")],
    "batch_size": Annotated[int, typer.Option(min=1, help="Radargrams per optimiser step (dense batches).")],
    "feature_layers": FeatureLayersOpt,
    "target_layers": TargetLayersOpt,
    "direction": Annotated[str, typer.Option(help="deep_to_shallow (seed) or shallow_to_deep (predict deeper layers).")],
    "extra_features": Annotated[str, typer.Option(help="Comma-separated extra node features from the files, "
                                                       "e.g. Elevation,curr_smb.")],
    "learnable_adjacency": Annotated[bool, typer.Option("--learnable-adjacency", help="Train an edge-weight matrix on "
                                                        "top of the haversine weights (seed §VI-A.3).")],
    "columns": ColumnsOpt,
}
#: the firn model's options, one per `FirnModel` field (defaults: its physical values, not in the seed but pixel_m)
FIRN_OPTIONS = {
    "pixel_m": Annotated[float, typer.Option(help="Metres of firn per pixel row when no echogram Time axis gives it "
                                                  "(seed 000 Table I: ~4 cm).")],
    "density": Annotated[float | None, typer.Option(help="Constant firn density (g/cm³) for depth and m w.e. "
                                                         "[default: Herron-Langway, or the file's curr_dens].")],
    "surface_density": Annotated[float, typer.Option(help="Herron-Langway surface density (g/cm³).")],
    "temperature_c": Annotated[float, typer.Option(help="Herron-Langway mean annual temperature (°C).")],
    "accumulation": Annotated[float, typer.Option(help="Herron-Langway accumulation (m w.e. per year).")],
}


def _firn(**values) -> FirnModel:
    """The firn model of the options: refused when impossible, a warning line when a value looks in another unit."""
    firn = FirnModel(**values).validate()
    for line in firn.unit_warnings():
        print(f"warning: {line}", file=sys.stderr)
    return firn


with_firn_options = option_group("firn", FIRN_OPTIONS, {key: getattr(FirnModel, key) for key in FIRN_OPTIONS}, _firn)
with_training_options = option_group("training", TRAINING_OPTIONS, {
    **{key: getattr(_Cfg, key) for key in TRAINING_OPTIONS}, "extra_features": ""}, dict)


def _print(output, as_json: bool) -> None:
    """A library command's notes on stderr, then its result (one JSON object with --json, else its text)."""
    for line in output.notes:
        print(line, file=sys.stderr)
    emit(output.result, as_json, human=output.text)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for the radargram .mat files.")],
    radargrams: Annotated[int, typer.Option(min=1, help="Radargrams (frames of 256 traces) to write.")] = 816,
    seed: Annotated[int, typer.Option(help="Seed of the campaign (flight lines, climate fields, tracking).")] = 0,
    echograms: Annotated[bool, typer.Option("--echograms", help="Also write echogram images (Data, 1200-1700 "
                                            "rows; about 0.3 MB per file).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="v7.3 (HDF5, as the processed set) or v5.")] = "v7.3",
    quality_db: Annotated[float | None, typer.Option(help="Mean echo quality (dB): layers are tracked while it "
                                                     "exceeds the losses with depth, so higher keeps more radargrams "
                                                     "usable [default: the simulator's calibrated value].")] = None,
    layout: Annotated[str, typer.Option(help="layers_vector (processed .mat files with the physical fields) or seed "
                                        "(the seed's release: image/NAME.mat + layer_bin/NAME.png label images, "
                                        "echograms included).")] = "layers_vector",
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Simulate a Snow Radar campaign over Greenland, written as processed .mat files or in the seed's layout."""
    setup(quiet)
    from nivalis.snow.commands import simulate_radargrams

    _print(simulate_radargrams(out, radargrams=radargrams, seed=seed, echograms=echograms, fmt=fmt,
                               quality_db=quality_db, layout=layout), as_json)


@app.command()
@with_firn_options
def inspect(
    path: Annotated[Path, typer.Argument(help="A radargram file (layers_vector .mat, CReSIS CSARP_layer/layerData "
                                              ".mat, seed-release image .mat or label image), or a folder of them "
                                              "(or with image/ and layer_bin/) for a summary.")],
    feature_layers: FeatureLayersOpt = _Cfg.feature_layers,
    target_layers: TargetLayersOpt = _Cfg.target_layers,
    columns: ColumnsOpt = _Cfg.columns,
    survey_year: SurveyYearOpt = None,
    latlon_field: LatlonOpt = None,
    firn: FirnModel = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Layout, layers, usability and mean thickness per layer (px, m, m w.e., top-down) of radargram files."""
    setup(quiet)
    from nivalis.snow.commands import inspect_radargrams

    _print(inspect_radargrams(path, feature_layers=feature_layers, target_layers=target_layers, columns=columns,
                              survey_year=survey_year, latlon_field=latlon_field, firn=firn), as_json)


@app.command()
@with_firn_options
@with_training_options
def paper(
    data: Annotated[Path, typer.Option(help="Folder of radargram .mat files (try `nivalis snow simulate`).")],
    epochs: EpochsOpt = _Cfg.epochs,
    splits: Annotated[int, typer.Option(min=1, help="Random 4:1 train/test permutations (seed: 5).")] = _Cfg.splits,
    seed: SeedOpt = 0,
    models: Annotated[str, typer.Option(help="Comma-separated models to compare.")] = "lstm,gcn,gcn_lstm",
    training: dict = None,
    survey_year: SurveyYearOpt = None,
    workers: Annotated[int, typer.Option(min=1, help="Trainings run at once in separate processes (2 on a 2-core "
                                         "CPU: each with --threads, default 1).")] = 1,
    threads: ThreadsOpt = None,
    firn: FirnModel = None,
    out: Annotated[Path, typer.Option(help="Where Table II (md, csv; in px and m w.e.), results.json and figures "
                                           "3-4 go.")] = Path("runs/snow-paper"),
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Reproduce Table II and figures 3-4: LSTM, GCN and GCN-LSTM on random 4:1 splits, RMSE per year (px, m w.e.)."""
    setup(quiet)
    from nivalis.experiments.snow_table2 import reproduce_table2
    from nivalis.snow.config import snow_config

    cfg = snow_config(epochs=epochs, splits=splits, seed=seed, models=models, **training)
    _print(reproduce_table2(data, cfg, out, survey_year=survey_year, workers=workers, threads=threads, firn=firn),
           as_json)


@app.command()
@with_training_options
def train(
    data: Annotated[Path, typer.Option(help="Folder of radargram .mat files.")],
    model: Annotated[str, typer.Option("--model", "-m", help="gcn_lstm, gcn or lstm.")] = "gcn_lstm",
    epochs: EpochsOpt = _Cfg.epochs,
    seed: SeedOpt = 0,
    split: Annotated[int, typer.Option(min=0, help="Which random 4:1 permutation to train on (0 = the first).")] = 0,
    training: dict = None,
    survey_year: SurveyYearOpt = None,
    out: Annotated[Path | None, typer.Option(help="Run folder [default: runs/snow-MODEL].")] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train one thickness model (checkpoint every epoch, --resume, torchrun for several processes)."""
    setup(quiet)
    from nivalis.snow.commands import train_model
    from nivalis.snow.config import snow_config

    cfg = snow_config(epochs=epochs, seed=seed, models=model, **training)
    _print(train_model(data, model, cfg, out, survey_year=survey_year, split=split, resume=resume, force=force,
                       threads=threads), as_json)


@app.command()
@with_firn_options
def predict(
    path: Annotated[Path, typer.Argument(help="A radargram .mat file, or a folder of them (files that cannot be "
                                              "read or used are skipped and counted).")],
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt from `nivalis snow train`.")],
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="Also write one row per trace (file, its role in the checkpoint's split: train/test/new, "
                      "latitude, longitude, predicted and tracked px, m and m w.e. per year, along_m: the distance "
                      "along the radargram from its first trace); opens as a point layer in QGIS.")
    ] = None,
    gpkg_out: Annotated[Path | None, typer.Option(
        "--gpkg", help="Also write a GeoPackage point layer (WGS 84, EPSG:4326): one point per trace with the CSV's "
                       "columns.")] = None,
    epsg3413: Annotated[bool, typer.Option(
        "--epsg3413", help="With --csv or --gpkg: add x_3413/y_3413 columns (metres, NSIDC polar stereographic "
                           "north).")
    ] = False,
    survey_year: SurveyYearOpt = None,
    firn: FirnModel = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Predict the thickness (px, m, m w.e.) of the target layers at every trace of one radargram or a folder."""
    setup(quiet)
    from nivalis.snow.commands import predict_radargrams

    _print(predict_radargrams(path, checkpoint, csv=csv_out, gpkg=gpkg_out, epsg3413_columns=epsg3413,
                              survey_year=survey_year, firn=firn), as_json)
