"""`nivalis snow`: simulate, inspect, reproduce Table II, train and predict snow-layer thickness (seed 000)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup
from nivalis.snow.config import SnowConfig as _Cfg  # defaults come from the config (the seed's values)
from nivalis.snow.units import FirnModel as _Firn  # physical defaults (not in the seed, except the pixel size)

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
ExtraOpt = Annotated[str, typer.Option(help="Comma-separated extra node features from the files, "
                                       "e.g. Elevation,curr_smb.")]
ThreadsOpt = Annotated[int | None, typer.Option(min=1, help="Intra-op threads per training (1 is faster when "
                                                "other jobs share the cores) [default: torch's].")]
LearnAdjOpt = Annotated[bool, typer.Option("--learnable-adjacency", help="Train an edge-weight matrix on top of the "
                                           "haversine weights (seed §VI-A.3).")]
ColumnsOpt = Annotated[int, typer.Option(min=1, help="Traces per radargram; wider CReSIS frames are cut into "
                                         "consecutive radargrams of this many (seed: 256), the rest reported.")]
SurveyYearOpt = Annotated[int | None, typer.Option(
    min=1900, max=2100, help="Year of the flights (the layer under the surface is the year before) [default: from "
                             f"the YYYYMMDD date in the file names or the GPS time, else {_Cfg.survey_year}].")]
LatlonOpt = Annotated[str | None, typer.Option(help="Seed-release image .mat: the field holding the 256x2 "
                                               "latitude/longitude matrix, when several could.")]
PixelOpt = Annotated[float, typer.Option(help="Metres of firn per pixel row when no echogram Time axis gives it "
                                         "(seed 000 Table I: ~4 cm).")]
DensityOpt = Annotated[float | None, typer.Option(help="Constant firn density (g/cm³) for depth and m w.e. "
                                                  "[default: Herron-Langway, or the file's curr_dens].")]
SurfaceDensityOpt = Annotated[float, typer.Option(help="Herron-Langway surface density (g/cm³).")]
TemperatureOpt = Annotated[float, typer.Option(help="Herron-Langway mean annual temperature (°C).")]
AccumulationOpt = Annotated[float, typer.Option(help="Herron-Langway accumulation (m w.e. per year).")]
NOTE_LINES = 20  # notes printed on stderr; all of them are in the --json output


def _notes(notes: dict[str, list[str]]) -> None:
    """Convention notes (normalised longitudes, interpolated positions, ignored empty fields) on stderr."""
    import sys

    lines = [f"note: {name}: {line}" for name, items in notes.items() for line in items]
    for line in lines[:NOTE_LINES]:
        print(line, file=sys.stderr)
    if len(lines) > NOTE_LINES:
        print(f"note: ... {len(lines) - NOTE_LINES} more notes (in the --json output)", file=sys.stderr)


def _survey_year(survey_year: int | None, data: Path) -> tuple[int, str]:
    """(year, source): --survey-year, else the year of the data's file name dates or GPS time, else the config's."""
    from nivalis.snow.io import detect_survey_year

    if survey_year is not None:
        return survey_year, "--survey-year"
    return detect_survey_year(data)


def _note_default_year(source: str) -> None:
    if source.startswith("default"):
        _notes({"survey year": [source]})


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
    from nivalis.files import prepare_output_dir
    from nivalis.snow.simulate import SimulatorConfig, simulate_campaign

    prepare_output_dir(out)

    extra = {} if quality_db is None else {"quality_mean_db": quality_db}
    result = simulate_campaign(out, SimulatorConfig(radargrams=radargrams, seed=seed, echograms=echograms, fmt=fmt,
                                                    layout=layout, **extra))
    emit(result, as_json, human=f"wrote {result['files']} radargrams ({result['usable']} usable) to {out} "
                                f"({result['layout']} layout) in {result['seconds']:.1f} s; a row is "
                                f"{result['pixel_m']:g} m of firn: give --pixel-m {result['pixel_m']:g} to inspect, "
                                "paper and predict")


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="A radargram file (layers_vector .mat, CReSIS CSARP_layer/layerData "
                                              ".mat, seed-release image .mat or label image), or a folder of them "
                                              "(or with image/ and layer_bin/) for a summary.")],
    feature_layers: FeatureLayersOpt = _Cfg.feature_layers,
    target_layers: TargetLayersOpt = _Cfg.target_layers,
    columns: ColumnsOpt = _Cfg.columns,
    survey_year: SurveyYearOpt = None,
    latlon_field: LatlonOpt = None,
    pixel_m: PixelOpt = _Firn.pixel_m,
    density: DensityOpt = _Firn.density,
    surface_density: SurfaceDensityOpt = _Firn.surface_density,
    temperature_c: TemperatureOpt = _Firn.temperature_c,
    accumulation: AccumulationOpt = _Firn.accumulation,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Layout, layers, usability and mean thickness per layer (px, m, m w.e., top-down) of radargram files."""
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.snow.io import ReadOptions, load_radargram_folder, read_radargram_file
    from nivalis.snow.units import FirnModel

    firn = FirnModel(pixel_m, density, surface_density, temperature_c, accumulation).validate()
    options = ReadOptions(columns=columns, latlon_field=latlon_field, firn=firn)
    rows = 1 + feature_layers + target_layers
    if not path.exists():
        raise UserError(f"file not found: {path}")

    def described(radargram) -> dict:
        info = radargram.summary(rows_needed=rows, columns=columns, firn=firn)
        year = survey_year or radargram.survey_year or _Cfg.survey_year
        info["survey_year"] = year
        info["survey_year_from"] = ("--survey-year" if survey_year else radargram.survey_year_source
                                    or f"default {_Cfg.survey_year}")
        info["layer_years"] = [year - 1 - i for i in range(len(info["thickness_px"]))]
        return info

    if path.is_dir():
        radargrams, summary = load_radargram_folder(path, rows_needed=rows, columns=columns, options=options,
                                                    include_unusable=True)
        result = summary.to_dict()
        result["radargram_summaries"] = [described(r) for r in radargrams]
        _notes(summary.notes)
        emit(result, as_json, human=f"{result['files']} files ({result['layout']}): {result['radargrams']} "
                                    f"radargrams, {result['usable']} usable, {result['unusable']} unusable "
                                    f"{result['unusable_reasons']}, {result['bad']} unreadable"
                                    + (f"; traces left over {result['leftover_traces']}"
                                       if result["leftover_traces"] else ""))
        return
    radargrams, left = read_radargram_file(path, options)
    infos = [described(r) for r in radargrams]
    _notes({radargrams[0].name: radargrams[0].notes})
    lines = []
    for info in infos:
        def fmt(values, digits):
            shown = ", ".join("–" if v is None else f"{v:.{digits}f}" for v in values[:12])
            return shown + (" ..." if len(values) > 12 else "")

        lines += [f"{info['name']}: {info['layout']}, MAT {info['format']}, {info['layers']} layer rows × "
                  f"{info['columns']} columns, {'usable' if info['usable'] else 'NOT usable: ' + info['reason']}",
                  f"  mean thickness per layer, top-down from {info['layer_years'][0] if info['layer_years'] else '-'}"
                  f" (survey {info['survey_year']}, {info['survey_year_from']}):",
                  f"    px:     {fmt(info['thickness_px'], 1)}",
                  f"    m:      {fmt(info['thickness_m'], 3)}   (depth from {info['depth_from']})",
                  f"    m w.e.: {fmt(info['thickness_mwe'], 3)}   (density: {info['density']})",
                  f"  latitude {info['latitude'][0]:.4f}..{info['latitude'][1]:.4f}, "
                  f"longitude {info['longitude'][0]:.4f}..{info['longitude'][1]:.4f}; fields: "
                  f"{', '.join(info['fields']) or '-'}; echogram: {info['echogram'] or '-'}"]
    if len(infos) == 1:
        emit(infos[0], as_json, human="\n".join(lines))
        return
    result = {"file": str(path), "layout": radargrams[0].layout, "radargrams": len(infos), "leftover_traces": left,
              "radargram_summaries": infos}
    emit(result, as_json, human="\n".join(lines) + f"\n{len(infos)} radargrams of {columns} traces; "
                                                  f"{left} traces left over")


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
    columns: ColumnsOpt = _Cfg.columns,
    survey_year: SurveyYearOpt = None,
    workers: Annotated[int, typer.Option(min=1, help="Trainings run at once in separate processes (2 on a 2-core "
                                         "CPU: each with --threads, default 1).")] = 1,
    threads: ThreadsOpt = None,
    pixel_m: PixelOpt = _Firn.pixel_m,
    density: DensityOpt = _Firn.density,
    surface_density: SurfaceDensityOpt = _Firn.surface_density,
    temperature_c: TemperatureOpt = _Firn.temperature_c,
    accumulation: AccumulationOpt = _Firn.accumulation,
    out: Annotated[Path, typer.Option(help="Where Table II (md, csv; in px and m w.e.), results.json and figures "
                                           "3-4 go.")] = Path("runs/snow-paper"),
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Reproduce Table II and figures 3-4: LSTM, GCN and GCN-LSTM on random 4:1 splits, RMSE per year (px, m w.e.)."""
    setup(quiet)
    from nivalis.experiments.snow_table2 import ordering_text, paired_differences, run_paper, table_markdown
    from nivalis.snow.units import FirnModel

    firn = FirnModel(pixel_m, density, surface_density, temperature_c, accumulation).validate()

    cfg = _config(epochs=epochs, splits=splits, seed=seed, models=models, precision=precision, device=device,
                  batch_size=batch_size, feature_layers=feature_layers, target_layers=target_layers,
                  direction=direction, extra_features=extra_features, learnable_adjacency=learnable_adjacency,
                  columns=columns)
    cfg.survey_year, year_source = _survey_year(survey_year, data)
    from nivalis.files import prepare_output_dir

    prepare_output_dir(out)  # before the trainings, not when Table II is written
    result = run_paper(data, cfg, out, workers=workers, threads=threads, firn=firn)
    _notes((result.summary or {}).get("notes", {}))
    _note_default_year(year_source)
    payload = {"table": result.table, "table_mwe": result.table_mwe, "mwe_source": result.mwe_source,
               "seconds": round(result.seconds, 3), "years": result.years,
               "paired": paired_differences(result.runs), "data": result.summary, "files": result.files,
               "survey_year": {"year": cfg.survey_year, "from": year_source}}
    mwe = (f"\nRMSE in m w.e. ({result.mwe_source}):\n{table_markdown(result, result.table_mwe, 4)}"
           if result.table_mwe else "")
    emit(payload, as_json, human="RMSE in pixels:\n" + table_markdown(result) + mwe
         + f"\n{ordering_text(result.table, result.runs)}\n"
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
    columns: ColumnsOpt = _Cfg.columns,
    survey_year: SurveyYearOpt = None,
    out: Annotated[Path | None, typer.Option(help="Run folder [default: runs/snow-MODEL].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --resume: continue a checkpoint of another run (other "
                                                        "data, model or settings); the result records it.")] = False,
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
                  extra_features=extra_features, learnable_adjacency=learnable_adjacency, models=model,
                  columns=columns)
    cfg.survey_year, year_source = _survey_year(survey_year, data)
    from nivalis.files import prepare_output_dir

    out = out or Path("runs") / f"snow-{model}"
    prepare_output_dir(out)  # before the training, not at its first checkpoint
    result = train_snow(data, model, cfg, out, resume=resume, split=split, force=force)
    result["survey_year"] = {"year": cfg.survey_year, "from": year_source}
    _notes(result["data"].get("notes", {}))
    _note_default_year(year_source)
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
    pixel_m: PixelOpt = _Firn.pixel_m,
    density: DensityOpt = _Firn.density,
    surface_density: SurfaceDensityOpt = _Firn.surface_density,
    temperature_c: TemperatureOpt = _Firn.temperature_c,
    accumulation: AccumulationOpt = _Firn.accumulation,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Predict the thickness (px, m, m w.e.) of the target layers at every trace of one radargram or a folder."""
    setup(quiet)
    from nivalis.errors import UserError
    from nivalis.files import prepare_output_file
    from nivalis.snow.predict import predict_path
    from nivalis.snow.units import FirnModel

    firn = FirnModel(pixel_m, density, surface_density, temperature_c, accumulation).validate()
    if csv_out is not None and csv_out.is_dir():  # before the work, not after it
        raise UserError(f"--csv {csv_out} is a folder; give a file name, e.g. {csv_out / 'prediction.csv'}")
    if csv_out is not None:
        prepare_output_file(csv_out, option="--csv")
    if epsg3413 and gpkg_out is None and csv_out is None:
        raise UserError("--epsg3413 adds columns to the --csv table and the --gpkg layer; give --csv or --gpkg too")
    if gpkg_out is not None:
        if gpkg_out.suffix.lower() != ".gpkg":
            raise UserError(f"--gpkg {gpkg_out}: a GeoPackage file name ends in .gpkg")
        prepare_output_file(gpkg_out, option="--gpkg")
    if survey_year is None and path.exists():  # the data's own year when it tells one, else the checkpoint's
        from nivalis.snow.io import detect_survey_year

        year, source = detect_survey_year(path)
        survey_year = None if source.startswith("default") else year
    prediction = predict_path(checkpoint, path, survey_year=survey_year, firn=firn)
    result = prediction.result
    _notes(result["data"].get("notes", {}) if "data" in result else {Path(path).stem: result.get("notes", [])})
    if "role_note" in result:
        _notes({checkpoint.name: [result["role_note"]]})
    if csv_out is not None:
        result["csv"] = str(prediction.write_csv(csv_out, epsg3413_columns=epsg3413))
    if gpkg_out is not None:
        result["gpkg"] = str(prediction.write_gpkg(gpkg_out, epsg3413_columns=epsg3413))
    if "folder" in result:
        data, roles = result["data"], result["roles"]
        lines = [f"{path} ({result['model']}): {result['predicted']} radargrams of {data['files']} files predicted "
                 f"({data['bad']} unreadable, {data['unusable']} not usable; {roles['train']} in the model's "
                 f"training set, {roles['test']} held out by it, "
                 + (f"{roles['new']} new)" if "new" in roles else f"{roles['unknown']} not known to the checkpoint)"),
                 "mean predicted thickness (px, m, m w.e.) and RMSE against the tracked layers (px), all files"]
        mean = result
    else:
        lines = [f"{path} ({result['model']}, {result['role']} radargram of the checkpoint): mean predicted "
                 "thickness (px, m, m w.e.) and RMSE against the tracked layers (px)"]
        mean = result["mean"]
    for year in result["years"]:
        lines.append(f"  {year}: {mean['thickness_px'][year]:7.2f} px {mean['thickness_m'][year]:7.3f} m "
                     f"{mean['thickness_mwe'][year]:7.3f} m w.e.   RMSE {result['rmse_px'][year]:.3f}")
    lines.append(f"  total RMSE {result['total_rmse_px']:.3f}")
    if "held_out" in result:
        held = result["held_out"]
        lines.append(f"  total RMSE on the {held['radargrams']} radargrams it never trained on: "
                     f"{held['total_rmse_px']:.3f}")
    if csv_out is not None:
        lines.append(f"per trace → {result['csv']}")
    if gpkg_out is not None:
        lines.append(f"per trace → {result['gpkg']} (GeoPackage, EPSG:4326)")
    emit(result, as_json, human="\n".join(lines))
