"""Each `nivalis snow` command as one Python function: its JSON result, its readable text and its notes for stderr.

The command line parses options and calls one of these; everything it prints comes from here. Notes are the
readers' convention fixes (normalised longitudes, interpolated positions, ignored empty fields) and the
survey year when nothing in the data told it; at most `NOTE_LINES` of each kind are printed, all of them are
in the JSON result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nivalis.errors import UserError
from nivalis.snow.config import SnowConfig
from nivalis.snow.readers.dispatch import load_radargram_folder, read_radargram_file
from nivalis.snow.readers.label_trace import TRACK_TOLERANCE_PX
from nivalis.snow.readers.radargram import ReadOptions
from nivalis.snow.survey import dated_summary, detect_survey_year, is_default, survey_year_of
from nivalis.snow.units import FirnModel

#: notes of one kind printed on stderr; all of them are in the JSON result
NOTE_LINES = 20


@dataclass
class CommandOutput:
    """What a `nivalis snow` command prints: `result` as one JSON object (``--json``) or `text`; `notes` on stderr."""

    result: dict[str, Any]
    text: str
    notes: list[str] = field(default_factory=list)


def note_lines(notes: dict[str, list[str]], limit: int = NOTE_LINES) -> list[str]:
    """``note: NAME: ...`` lines of `notes` (name → notes), at most `limit` and then one saying how many more."""
    lines = [f"note: {name}: {line}" for name, items in notes.items() for line in items]
    if len(lines) > limit:
        return [*lines[:limit], f"note: ... {len(lines) - limit} more notes (in the --json output)"]
    return lines


def survey_year_notes(source: str) -> list[str]:
    """The note that the survey year is the default one, when nothing in the data told it."""
    return note_lines({"survey year": [source]}) if is_default(source) else []


def checked_paths(**paths: str | os.PathLike | None) -> None:
    """Refuse, in one line naming the option, any path the file system cannot hold (`nivalis.files.check_path_name`),
    before anything looks at it: a name over 255 bytes raises OSError from the first `exists()`."""
    from nivalis.files import check_path_name

    for option, path in paths.items():
        if path is not None:
            check_path_name(path, option if option.isupper() else "--" + option.replace("_", "-"))


def simulate_radargrams(out: str | os.PathLike, *, radargrams: int = 816, seed: int = 0, echograms: bool = False,
                        fmt: str = "v7.3", quality_db: float | None = None, layout: str = "layers_vector"
                        ) -> CommandOutput:
    """`nivalis snow simulate`: a simulated campaign written to `out` (`nivalis.snow.simulate.simulate_campaign`);
    `quality_db` None keeps the simulator's calibrated mean echo quality."""
    from nivalis.files import prepare_output_dir
    from nivalis.snow.simulate import SimulatorConfig, simulate_campaign

    prepare_output_dir(out)
    extra = {} if quality_db is None else {"quality_mean_db": quality_db}
    result = simulate_campaign(out, SimulatorConfig(radargrams=radargrams, seed=seed, echograms=echograms, fmt=fmt,
                                                    layout=layout, **extra))
    return CommandOutput(result, f"wrote {result['files']} radargrams ({result['usable']} usable) to {out} "
                                 f"({result['layout']} layout) in {result['seconds']:.1f} s; a row is "
                                 f"{result['pixel_m']:g} m of firn: give --pixel-m {result['pixel_m']:g} to inspect, "
                                 "paper and predict")


def _values(values: list[float | None], digits: int) -> str:
    shown = ", ".join("–" if v is None else f"{v:.{digits}f}" for v in values[:12])
    return shown + (" ..." if len(values) > 12 else "")


def _radargram_text(info: dict[str, Any]) -> list[str]:
    """The readable lines of one radargram's `dated_summary`."""
    return [f"{info['name']}: {info['layout']}, MAT {info['format']}, {info['layers']} layer rows × "
            f"{info['columns']} columns, {'usable' if info['usable'] else 'NOT usable: ' + info['reason']}; layers step up "
            f"to {info['max_step_px']:g} px between adjacent columns",
            f"  mean thickness per layer, top-down from {info['layer_years'][0] if info['layer_years'] else '-'}"
            f" (survey {info['survey_year']}, {info['survey_year_from']}):",
            f"    px:     {_values(info['thickness_px'], 1)}",
            f"    m:      {_values(info['thickness_m'], 3)}   (depth from {info['depth_from']})",
            f"    m w.e.: {_values(info['thickness_mwe'], 3)}   (density: {info['density']})",
            f"  latitude {info['latitude'][0]:.4f}..{info['latitude'][1]:.4f}, "
            f"longitude {info['longitude'][0]:.4f}..{info['longitude'][1]:.4f}; fields: "
            f"{', '.join(info['fields']) or '-'}; echogram: {info['echogram'] or '-'}"]


def inspect_radargrams(path: str | os.PathLike, *, feature_layers: int = SnowConfig.feature_layers,
                       target_layers: int = SnowConfig.target_layers, columns: int = SnowConfig.columns,
                       survey_year: int | None = None, latlon_field: str | None = None,
                       firn: FirnModel | None = None) -> CommandOutput:
    """`nivalis snow inspect`: layout, layers, usability and mean thickness per layer (px, m, m w.e., top-down,
    dated by the survey year) of one radargram file, or a summary of a folder with every radargram's."""
    checked_paths(PATH=path)
    firn = firn or FirnModel()
    options = ReadOptions(columns=columns, latlon_field=latlon_field, firn=firn)
    rows = 1 + feature_layers + target_layers
    path = Path(path)
    if not path.exists():
        raise UserError(f"file not found: {path}")

    def described(radargram) -> dict[str, Any]:
        return dated_summary(radargram, rows_needed=rows, columns=columns, firn=firn, survey_year=survey_year)

    if path.is_dir():
        radargrams, summary = load_radargram_folder(path, rows_needed=rows, columns=columns, options=options,
                                                    include_unusable=True)
        result = summary.to_dict()
        result["radargram_summaries"] = [described(r) for r in radargrams]
        steps = [info["max_step_px"] for info in result["radargram_summaries"]]
        steep = sum(step > TRACK_TOLERANCE_PX for step in steps)
        return CommandOutput(result, f"{result['files']} files ({result['layout']}): {result['radargrams']} "
                                     f"radargrams, {result['usable']} usable, {result['unusable']} unusable "
                                     f"{result['unusable_reasons']}, {result['bad']} unreadable"
                                     + (f"; traces left over {result['leftover_traces']}"
                                        if result["leftover_traces"] else "")
                                     + (f"; {steep} with layers stepping over {TRACK_TOLERANCE_PX} px between "
                                        f"adjacent columns (up to {max(steps):g} px)" if steep else ""),
                             note_lines(summary.notes))
    radargrams, left = read_radargram_file(path, options)
    infos = [described(r) for r in radargrams]
    notes = note_lines({radargrams[0].name: radargrams[0].notes})
    text = "\n".join(line for info in infos for line in _radargram_text(info))
    if len(infos) == 1:
        return CommandOutput(infos[0], text, notes)
    result = {"file": str(path), "layout": radargrams[0].layout, "radargrams": len(infos), "leftover_traces": left,
              "radargram_summaries": infos}
    return CommandOutput(result, text + f"\n{len(infos)} radargrams of {columns} traces; {left} traces left over",
                         notes)


def train_model(data: str | os.PathLike, model: str, cfg: SnowConfig, out: str | os.PathLike | None = None, *,
                survey_year: int | None = None, split: int = 0, resume: bool = False, force: bool = False,
                threads: int | None = None) -> CommandOutput:
    """`nivalis snow train`: `nivalis.snow.train.train_snow` into `out` (default ``runs/snow-MODEL``), its years
    labelled by `survey_year` (else the data's own, `survey_year_of`), on `threads` intra-op threads."""
    import torch

    from nivalis.files import prepare_output_dir
    from nivalis.snow.train import train_snow

    checked_paths(data=data, out=out)
    if threads:
        torch.set_num_threads(threads)
    cfg.survey_year, year_source = survey_year_of(data, survey_year)
    out = Path(out) if out is not None else Path("runs") / f"snow-{model}"
    prepare_output_dir(out)  # before the training, not at its first checkpoint
    result = train_snow(data, model, cfg, out, resume=resume, split=split, force=force)
    result["survey_year"] = {"year": cfg.survey_year, "from": year_source}
    rmse = ", ".join(f"{y} {v:.3f}" for y, v in result["rmse"].items())
    return CommandOutput(result, f"{model}: test RMSE (px) {rmse}; total {result['total_rmse']:.3f}; "
                                 f"{result['seconds']:.0f} s; checkpoint {result['checkpoint']}",
                         note_lines(result["data"].get("notes", {})) + survey_year_notes(year_source))


def _prediction_text(path: Path, result: dict[str, Any]) -> str:
    """The readable lines of `nivalis snow predict`: mean thickness and RMSE per year, for a file or a folder."""
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
    if "csv" in result:
        lines.append(f"per trace → {result['csv']}")
    if "gpkg" in result:
        lines.append(f"per trace → {result['gpkg']} (GeoPackage, EPSG:4326)")
    return "\n".join(lines)


def predict_radargrams(path: str | os.PathLike, checkpoint: str | os.PathLike, *,
                       csv: str | os.PathLike | None = None, gpkg: str | os.PathLike | None = None,
                       epsg3413_columns: bool = False, survey_year: int | None = None,
                       firn: FirnModel | None = None) -> CommandOutput:
    """`nivalis snow predict`: `nivalis.snow.predict.predict_path` of a file or folder, with the per-trace table
    written to `csv` and/or the GeoPackage `gpkg` (their paths checked before the work). The years are labelled by
    `survey_year`, else by the data's own when it tells one, else by the checkpoint's."""
    from nivalis.files import prepare_output_file
    from nivalis.snow.predict import predict_path

    checked_paths(PATH=path, checkpoint=checkpoint, csv=csv, gpkg=gpkg)
    path, checkpoint = Path(path), Path(checkpoint)
    csv, gpkg = (None if p is None else Path(p) for p in (csv, gpkg))
    if csv is not None and csv.is_dir():  # before the work, not after it
        raise UserError(f"--csv {csv} is a folder; give a file name, e.g. {csv / 'prediction.csv'}")
    if csv is not None:
        prepare_output_file(csv, option="--csv")
    if epsg3413_columns and gpkg is None and csv is None:
        raise UserError("--epsg3413 adds columns to the --csv table and the --gpkg layer; give --csv or --gpkg too")
    if gpkg is not None:
        if gpkg.suffix.lower() != ".gpkg":
            raise UserError(f"--gpkg {gpkg}: a GeoPackage file name ends in .gpkg")
        prepare_output_file(gpkg, option="--gpkg")
    if survey_year is None and path.exists():  # the data's own year when it tells one, else the checkpoint's
        year, source = detect_survey_year(path)
        survey_year = None if is_default(source) else year
    prediction = predict_path(checkpoint, path, survey_year=survey_year, firn=firn)
    result = prediction.result
    notes = note_lines(result["data"].get("notes", {}) if "data" in result else {path.stem: result.get("notes", [])})
    if "role_note" in result:
        notes += note_lines({checkpoint.name: [result["role_note"]]})
    if csv is not None:
        result["csv"] = str(prediction.write_csv(csv, epsg3413_columns=epsg3413_columns))
    if gpkg is not None:
        result["gpkg"] = str(prediction.write_gpkg(gpkg, epsg3413_columns=epsg3413_columns))
    return CommandOutput(result, _prediction_text(path, result), notes)


__all__ = ["NOTE_LINES", "CommandOutput", "checked_paths", "inspect_radargrams", "note_lines", "predict_radargrams",
           "simulate_radargrams", "survey_year_notes", "train_model"]
