"""Seed 000's Table II: 5 random 4:1 splits × 3 models, the paired comparison, the table files and Fig. 3/4.

`run_paper` follows §III/§V: the usable radargrams are permuted five times, each permutation split 4:1
into train/test; GCN-LSTM, GCN and LSTM are trained on every training set (Adam, lr 0.01 constant, 150
epochs, MSE) and the RMSE (pixels) of every target year is taken over all nodes of the test set; Table II
is the mean ± standard deviation over the splits. ``total`` is the RMSE over all years' targets pooled.

Table II in m w.e. (not in the seed) scores the same predictions in water equivalent: every node's error in
pixels times its tracked layer's m w.e. per pixel (`nivalis.snow.metrics`; depth from the file's travel time or
``firn.pixel_m``, density from its ``curr_dens`` or the firn profile), so a model's ranking can differ from the
pixel table's where the per-pixel water equivalent varies across radargrams.

Training goes through `nivalis.snow.train` and the engine's `fit` (no validation pass and no checkpoint per
epoch inside the protocol: only the test set is evaluated, once, after training). Normalisation statistics
come from each split's training radargrams only.
"""

from __future__ import annotations

import csv
import io as _io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nivalis.engine import (
    fit,
    get_context,
    regression_task,
    resolve_device,
)
from nivalis.files import atomic_write_text
from nivalis.layers import native_lstm
from nivalis.snow.baselines import predict_baseline
from nivalis.snow.commands import CommandOutput, checked_paths, note_lines, survey_year_notes
from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import (
    RadargramArrays,
    SnowGraphs,
    fit_graph_stats,
    load_dataset,
)
from nivalis.snow.metrics import rmse_per_year
from nivalis.snow.predict import predict_thickness
from nivalis.snow.readers.dispatch import FolderSummary
from nivalis.snow.survey import survey_year_of
from nivalis.snow.train import _train_config, build_model, split_indices
from nivalis.snow.units import FirnModel

MODEL_LABELS = {"lstm": "LSTM", "gcn": "GCN", "gcn_lstm": "GCN-LSTM", "climatology": "Climatology",
                "ridge": "Ridge (per trace)"}


@dataclass
class SplitResult:
    model: str
    split: int
    rmse: list[float]
    total: float
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    rmse_mwe: list[float] | None = None   # the same predictions in m w.e. (None without a firn model)
    total_mwe: float | None = None


@dataclass
class PaperResult:
    table: dict[str, dict[str, list[float]]]
    runs: list[SplitResult]
    years: list[str]
    summary: dict[str, Any]
    seconds: float
    examples: dict[str, Any]            # what the figures need (split 0 test predictions)
    files: dict[str, str] = field(default_factory=dict)
    table_mwe: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # Table II in m w.e.
    mwe_source: str = ""                                                          # depth and density used


def _run_job(arrays: RadargramArrays, train_idx: np.ndarray, test_idx: np.ndarray, name: str, split: int,
             cfg: SnowConfig, keep_predictions: bool) -> dict[str, Any]:
    """Train `name` on one split's training radargrams and test it (statistics from the training part only)."""
    train_arrays, test_arrays = arrays.subset(train_idx), arrays.subset(test_idx)
    stats = fit_graph_stats(train_arrays)
    train_set, test_set = SnowGraphs.build(train_arrays, stats), SnowGraphs.build(test_arrays, stats)
    seed = cfg.seed * 1000 + split
    model, _ = build_model(name, stats, cfg, seed)
    fitted = fit(model, train_set, None, config=_train_config(cfg, seed), task=regression_task(), out_dir=None,
                 desc=f"{name} split {split + 1}/{cfg.splits} epoch")  # fit adds "k/epochs"
    pred = predict_thickness(model, test_set, cfg.precision)
    job = {"model": name, "split": split, **_scores(pred, test_set.targets, test_arrays), "seconds": fitted.seconds,
           "history": fitted.history}
    if keep_predictions:
        job["example"] = {"pred": pred.numpy(), "target": test_set.targets.numpy(), "names": list(test_arrays.names)}
    return job


def _baseline_job(arrays: RadargramArrays, train_idx: np.ndarray, test_idx: np.ndarray, name: str,
                  split: int) -> dict[str, Any]:
    """A baseline on one split: fitted on the split's training radargrams, scored like the networks."""
    t0 = time.perf_counter()
    train_arrays, test_arrays = arrays.subset(train_idx), arrays.subset(test_idx)
    stats = fit_graph_stats(train_arrays)
    train_set, test_set = SnowGraphs.build(train_arrays, stats), SnowGraphs.build(test_arrays, stats)
    scores = _scores(predict_baseline(name, train_set, test_set), test_set.targets, test_arrays)
    return {"model": name, "split": split, **scores, "seconds": time.perf_counter() - t0, "history": []}


def _scores(pred: torch.Tensor, target: torch.Tensor, test: RadargramArrays) -> dict[str, Any]:
    """RMSE per year and pooled, in pixels and (when the arrays carry ``mwe_per_px``) in m w.e."""
    per_year, total = rmse_per_year(pred, target)
    out: dict[str, Any] = {"rmse": per_year, "total": total}
    if test.mwe_per_px is not None:
        out["rmse_mwe"], out["total_mwe"] = rmse_per_year(pred, target, test.mwe_per_px)
    return out


_WORKER_ARRAYS: RadargramArrays | None = None


def _init_worker(payload: dict[str, Any], threads: int) -> None:
    """A worker process: its trainings log lines (never bars, which would overwrite the other workers'); --quiet
    reaches it through the environment it inherits (`nivalis.progress.set_quiet`)."""
    global _WORKER_ARRAYS
    from nivalis.progress import log_only

    torch.set_num_threads(threads)
    log_only()
    _WORKER_ARRAYS = RadargramArrays.from_payload(payload)


def _worker_job(args: tuple) -> dict[str, Any]:
    return _run_job(_WORKER_ARRAYS, *args)


_JOB_COST_RANK = {"gcn_lstm": 0, "lstm": 1, "gcn": 2}  # scheduling order of the workers, longest first


def run_paper(data_dir: str | Path, cfg: SnowConfig, out_dir: str | Path | None = None,
              arrays: RadargramArrays | None = None, summary: FolderSummary | None = None, *,
              workers: int = 1, threads: int | None = None, firn: FirnModel | None = None) -> PaperResult:
    """Table II: every model on every split; writes table_ii.md/.csv, results.json and Fig. 3/4 to `out_dir`.

    The radargrams are read from `data_dir` unless `arrays` are given; read here, they carry each layer's
    m w.e. per pixel by `firn` (default `FirnModel()`), and Table II in m w.e. (table_ii_mwe.md/.csv) is added.

    ``workers > 1`` trains that many (model, split) jobs at once in separate processes of ``threads`` (default 1)
    intra-op threads each: on a 2-core CPU two single-thread trainings beat one two-thread training, whose
    many small pointwise kernels pay a thread synchronisation each. The table depends on the seed, on the
    threads per training (floating-point summation order) and on the LSTM cell (compiled or PyTorch, which
    round differently: ``lstm_cell`` in results.json), not on the number of workers.
    """
    from nivalis.progress import bar, progress

    cfg.validate()
    t0 = time.perf_counter()
    _lstm_cell(cfg)  # builds the compiled cell once here, before the workers load it
    if arrays is None:
        arrays, summary = load_dataset(data_dir, cfg, firn or FirnModel())
    splits = split_indices(len(arrays), cfg)
    years = cfg.target_years()
    jobs = [(train_idx, test_idx, name, s, cfg, s == 0) for s, (train_idx, test_idx) in enumerate(splits)
            for name in cfg.models]
    done: list[dict[str, Any]] = []
    if workers <= 1:
        previous = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            done = [_run_job(arrays, *job) for job in jobs]
        finally:
            torch.set_num_threads(previous)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # longest trainings first (GCN-LSTM, then LSTM, then GCN per epoch on the CPU), so no worker is left with a
        # long training while the others idle; results go back to the split-major order of `jobs`
        order = sorted(range(len(jobs)), key=lambda i: (_JOB_COST_RANK.get(jobs[i][2], 0), i))
        finished: dict[int, dict[str, Any]] = {}
        jobs_done = bar(len(jobs), desc=f"Table II ({workers} workers)")
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(arrays.to_payload(), threads or 1)) as pool:
            for i, job in zip(order, pool.map(_worker_job, [jobs[i] for i in order])):
                finished[i] = job
                jobs_done.update(1)
        jobs_done.close()
        done = [finished[i] for i in range(len(jobs))]
    baselines = [(train_idx, test_idx, name, s) for s, (train_idx, test_idx) in enumerate(splits)
                 for name in cfg.baselines]
    done += [_baseline_job(arrays, *job) for job in progress(baselines, desc="baselines (climatology, ridge)")]
    runs = [SplitResult(j["model"], j["split"], j["rmse"], j["total"], j["seconds"], j["history"],
                        j.get("rmse_mwe"), j.get("total_mwe")) for j in done]
    examples: dict[str, Any] = {j["model"]: j["example"] for j in done if "example" in j}
    names = (*cfg.models, *cfg.baselines)
    table = _mean_std(runs, names, years, "rmse", "total")
    table_mwe = _mean_std(runs, names, years, "rmse_mwe", "total_mwe") if arrays.mwe_per_px is not None else {}
    examples["test_files"] = examples.get(cfg.models[0], {}).get("names", [])
    result = PaperResult(table, runs, years, summary.to_dict() if summary else {}, time.perf_counter() - t0, examples,
                         table_mwe=table_mwe, mwe_source=arrays.mwe_source)
    if out_dir is not None and get_context().is_main:
        result.files = write_paper_outputs(Path(out_dir), result, cfg, data_dir)
    return result


def reproduce_table2(data_dir: str | Path, cfg: SnowConfig, out_dir: str | Path, *, survey_year: int | None = None,
                     workers: int = 1, threads: int | None = None, firn: FirnModel | None = None) -> CommandOutput:
    """`nivalis snow paper`: `run_paper` into `out_dir` (prepared before the trainings), the years labelled by
    `survey_year` (else the data's own, `nivalis.snow.survey.survey_year_of`); Table II in px and m w.e."""
    from nivalis.files import prepare_output_dir

    checked_paths(data=data_dir, out=out_dir)
    cfg.survey_year, year_source = survey_year_of(data_dir, survey_year)
    prepare_output_dir(out_dir)  # before the trainings, not when Table II is written
    result = run_paper(data_dir, cfg, out_dir, workers=workers, threads=threads, firn=firn)
    payload = {"table": result.table, "table_mwe": result.table_mwe, "mwe_source": result.mwe_source,
               "seconds": round(result.seconds, 3), "years": result.years,
               "paired": paired_differences(result.runs), "data": result.summary, "files": result.files,
               "survey_year": {"year": cfg.survey_year, "from": year_source}}
    mwe = (f"\nRMSE in m w.e. ({result.mwe_source}):\n{table_markdown(result, result.table_mwe, 4)}"
           if result.table_mwe else "")
    text = ("RMSE in pixels:\n" + table_markdown(result) + mwe + f"\n{ordering_text(result.table, result.runs)}\n"
            f"{result.summary.get('usable')} usable radargrams ({result.summary.get('files')} files); "
            f"{result.seconds:.0f} s; written to {out_dir}")
    notes = note_lines((result.summary or {}).get("notes", {})) + survey_year_notes(year_source)
    return CommandOutput(payload, text, notes)


def _mean_std(runs: list[SplitResult], names, years: list[str], per_year_key: str, total_key: str
              ) -> dict[str, dict[str, list[float]]]:
    """{model label: {year: [mean, std], "total": [mean, std]}} over the splits of each model."""
    table = {}
    for name in names:
        rows = [r for r in runs if r.model == name]
        per_year = np.array([getattr(r, per_year_key) for r in rows], dtype=np.float64)
        totals = np.array([getattr(r, total_key) for r in rows], dtype=np.float64)
        entry = {y: [float(per_year[:, j].mean()), float(per_year[:, j].std())] for j, y in enumerate(years)}
        entry["total"] = [float(totals.mean()), float(totals.std())]
        table[MODEL_LABELS.get(name, name)] = entry
    return table


def _lstm_cell(cfg: SnowConfig) -> str:
    """Which LSTM cell the CPU trainings of `cfg` use: "compiled" (`native_lstm`, built on first call) or "pytorch"."""
    return "compiled" if resolve_device(cfg.device).type == "cpu" and native_lstm.available() else "pytorch"



def table_markdown(result: PaperResult, table: dict[str, dict[str, list[float]]] | None = None,
                   digits: int = 3) -> str:
    """Table II (default: in pixels; `table` = ``result.table_mwe`` with ``digits=4`` for m w.e.) as Markdown:
    mean ± std over the splits, the mean alone for one split (which has no spread to show)."""
    table = result.table if table is None else table
    one_split = len({r.split for r in result.runs}) <= 1
    head = "| model | " + " | ".join(result.years) + " | total |\n|---|" + "---|" * (len(result.years) + 1) + "\n"
    rows = ""
    for model, entry in table.items():
        cells = [f"{entry[y][0]:.{digits}f}" if one_split else f"{entry[y][0]:.{digits}f} ± {entry[y][1]:.{digits}f}"
                 for y in [*result.years, "total"]]
        rows += f"| {model} | " + " | ".join(cells) + " |\n"
    return head + rows


def _table_csv(result: PaperResult, table: dict[str, dict[str, list[float]]]) -> str:
    buf = _io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", *[f"{y}_{k}" for y in [*result.years, "total"] for k in ("mean", "std")]])
    for model, entry in table.items():
        writer.writerow([model, *[f"{v:.6f}" for y in [*result.years, "total"] for v in entry[y]]])
    return buf.getvalue()


def write_paper_outputs(out: Path, result: PaperResult, cfg: SnowConfig, data_dir) -> dict[str, str]:
    from nivalis.experiments.snow_figures import figure_overlay, figure_true_vs_predicted

    out.mkdir(parents=True, exist_ok=True)
    n_splits = len({r.split for r in result.runs})
    md = (f"# Table II — RMSE (pixels) per target year, mean ± std over {n_splits} splits\n\n"
          + table_markdown(result) + f"\n{ordering_text(result.table, result.runs)}\n")
    files = {"table_md": str(atomic_write_text(out / "table_ii.md", md))}
    files["table_csv"] = str(atomic_write_text(out / "table_ii.csv", _table_csv(result, result.table)))
    if result.table_mwe:
        md = (f"# Table II in water equivalent — RMSE (m w.e.) per target year, mean ± std over {n_splits} splits\n\n"
              f"The same predictions as table_ii.md; each node's pixel error times its tracked layer's m w.e. per "
              f"pixel ({result.mwe_source}).\n\n" + table_markdown(result, result.table_mwe, 4))
        files["table_mwe_md"] = str(atomic_write_text(out / "table_ii_mwe.md", md))
        files["table_mwe_csv"] = str(atomic_write_text(out / "table_ii_mwe.csv", _table_csv(result, result.table_mwe)))
    runs = [{"model": r.model, "split": r.split, "rmse": dict(zip(result.years, r.rmse)), "total": r.total,
             **({"rmse_mwe": dict(zip(result.years, r.rmse_mwe)), "total_mwe": r.total_mwe} if r.rmse_mwe else {}),
             "seconds": round(r.seconds, 3)} for r in result.runs]
    payload = {"table": result.table, "table_mwe": result.table_mwe, "mwe_source": result.mwe_source,
               "seconds": round(result.seconds, 3), "lstm_cell": _lstm_cell(cfg), "runs": runs,
               "paired": paired_differences(result.runs), "data": result.summary, "config": cfg.to_dict()}
    files["results"] = str(atomic_write_text(out / "results.json", json.dumps(payload, indent=2)))
    model = "gcn_lstm" if "gcn_lstm" in result.examples else cfg.models[0]
    if model in result.examples:
        ex = result.examples[model]
        files["fig3"] = str(figure_overlay(out / "fig3_overlay.png", ex, cfg, data_dir, MODEL_LABELS.get(model, model)))
        files["fig4"] = str(figure_true_vs_predicted(out / "fig4_true_vs_predicted.png", ex, result.years,
                                                     MODEL_LABELS.get(model, model), seed=cfg.seed))
    return files


# --------------------------------------------------------------------------------------------- demo report


SEED_PAIRS = (("gcn_lstm", "gcn"), ("gcn", "lstm"), ("gcn_lstm", "lstm"))  # (better, worse) in Table II
#: each network against the honest baselines (the network is expected to be the better one)
BASELINE_PAIRS = tuple((model, base) for model in ("gcn_lstm", "gcn", "lstm") for base in ("ridge", "climatology"))


def _pair_key(better: str, worse: str) -> str:
    return f"{MODEL_LABELS[better]} - {MODEL_LABELS[worse]}"


def paired_differences(runs: list[SplitResult]) -> dict[str, dict[str, float]]:
    """Per pair of Table II, total RMSE of the seed's better model minus the worse one, split by split.

    The models of a split train and test on the same radargrams, so the paired difference removes the
    split-to-split spread that the table's ± carries. ``{"GCN-LSTM - GCN": {"mean", "std", "wins", "splits"}}``,
    ``std`` the sample standard deviation (ddof = 1) of the differences, ``wins`` = splits where the seed's
    better model has the lower RMSE.
    """
    totals: dict[str, dict[int, float]] = {}
    for run in runs:
        totals.setdefault(run.model, {})[run.split] = run.total
    out = {}
    for better, worse in (*SEED_PAIRS, *BASELINE_PAIRS):
        shared = sorted(set(totals.get(better, {})) & set(totals.get(worse, {})))
        if not shared:
            continue
        diff = np.array([totals[better][k] - totals[worse][k] for k in shared])
        out[_pair_key(better, worse)] = {
            "mean": float(diff.mean()), "std": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
            "wins": int((diff < 0).sum()), "splits": len(shared)}
    return out


def ordering_text(table: dict[str, dict[str, list[float]]], runs: list[SplitResult] | None = None) -> str:
    """This table's ranking by total RMSE against the seed's (GCN-LSTM < GCN < LSTM), then split by split."""
    ranked = sorted(table, key=lambda m: table[m]["total"][0])
    order = " < ".join(f"{m} ({table[m]['total'][0]:.3f})" for m in ranked)
    seed_order = [MODEL_LABELS[m] for m in ("gcn_lstm", "gcn", "lstm") if MODEL_LABELS[m] in table]
    same = [m for m in ranked if m in seed_order] == seed_order
    spread = table[ranked[-1]]["total"][0] - table[ranked[0]]["total"][0]
    noise = max(entry["total"][1] for entry in table.values())
    text = f"Ranking by total RMSE in this run: {order} px; the seed's Table II ranks GCN-LSTM < GCN < LSTM"
    text += " — the same order." if same else " — a different order."
    if noise == 0:
        text += " With one split there is no split-to-split spread to judge the differences by."
    elif spread < noise:
        text += (f" The whole spread ({spread:.3f} px) is smaller than the split-to-split standard deviation "
                 f"({noise:.3f} px), so the means alone do not separate the models.")
    pairs = paired_differences(runs or [])
    if pairs:
        text += " Split by split (each split's models share its data): " + "; ".join(
            f"{MODEL_LABELS[better]} beats {MODEL_LABELS[worse]} on {d['wins']} of {d['splits']} "
            f"(mean difference {d['mean']:+.3f} px)"
            for better, worse in SEED_PAIRS if (d := pairs.get(_pair_key(better, worse)))) + "."
        against = [(b, w, d) for b, w in BASELINE_PAIRS if (d := pairs.get(_pair_key(b, w)))]
        if against:
            text += " Against the baselines: " + "; ".join(
                f"{MODEL_LABELS[b]} beats {MODEL_LABELS[w]} on {d['wins']} of {d['splits']} ({d['mean']:+.3f} px)"
                for b, w, d in against) + "."
    return text
