"""`nivalis zoo compare`: the EffNet experiment protocol (seed 003 §5) for any list of zoo networks.

Each network is trained `runs` times with seeds `seed, seed+1, ...` at the same hyper-parameters
(Adam, lr 1e-3, β1 = 0.75, no augmentation, no pre-training; dropout 0.5 before the output for
GTSRB) through the one training loop (`nivalis.engine.fit`), tested on the data set's test split and
summarised per network as

    {model, acc_mean, acc_std, flops, factor, latency_ms, torch_latency_ms, params, accs}

where `factor` = FLOPs / FLOPs of the first network (the seed's "Factor" column, Tables 2-7),
`acc_std` the sample standard deviation over runs (0 for one run), and `latency_ms` the measured
median onnxruntime CPU latency at batch 1 on one thread (`torch_latency_ms` the same for PyTorch
eager). The latency columns are what the seed lacks: FLOPs are not speed, since depthwise and 1×N filters
move as much memory as they compute. Results go to Markdown, CSV and JSON tables and an
accuracy-vs-FLOPs / accuracy-vs-latency plot; a finished run (same network, data and settings)
is reused, so an interrupted comparison continues where it stopped.

Threads: training and latency run on `threads` intra-op threads (default 1): the seed's networks are tiny,
per-operator thread synchronisation dominates such small convolutions, and batch-1 latency on one thread is
the embedded setting the seed targets (`benchmarks/effnet_latency.py` measures it).

Why one module of this size: the protocol and the tables/plot it writes share one row format.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nivalis.errors import UserError
from nivalis.files import atomic_write_text
from nivalis.models.variants import create_variant


@dataclass
class CompareConfig:
    """The comparison protocol; values from seed 003 §5 unless marked."""

    runs: int = 5                    # §5 "executed at least five times"
    epochs: int = 15                 # not given in the seed
    lr: float = 1e-3                 # §5
    beta1: float = 0.75              # §5
    batch_size: int = 64             # not given in the seed
    gtsrb_dropout: float = 0.5       # §5.3 "dropout ... of 50% before the output layer"
    seed: int = 0                    # run r trains with seed + r
    precision: str = "fp32"          # bf16 is an opt-in speed-up (nivalis.engine)
    latency_runs: int = 100          # timed forward passes per latency median
    threads: int | None = 1          # intra-op threads for training and latency (None: torch's default)
    int8: bool = False               # also quantize (ONNX Runtime static, digits/… calibration): fp32 vs int8

    def train_config(self, run: int):
        from nivalis.engine import TrainConfig

        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, optimizer="adam",
                           betas=(self.beta1, 0.999), scheduler="none", seed=self.seed + run,
                           precision=self.precision)


#: preset → (data set, networks) for each table of seed 003; the first network is the factor's reference
PRESETS: dict[str, tuple[str, list[str]]] = {
    "effnet-cifar": ("cifar10", ["effnet_cifar_baseline", "effnet_cifar_large", "mobilenet_cifar",
                                 "shufflenet_cifar", "effnet_cifar"]),                              # Table 2
    "effnet-svhn": ("svhn", ["effnet_svhn_baseline", "effnet_svhn_large", "mobilenet_svhn",
                             "shufflenet_svhn", "effnet_svhn"]),                                    # Table 3
    "effnet-gtsrb": ("gtsrb", ["effnet_gtsrb_baseline", "effnet_gtsrb_large", "mobilenet_gtsrb",
                               "shufflenet_gtsrb", "effnet_gtsrb"]),                                # Table 4
    **{f"effnet-v2-{d}": (data, [f"effnet_{d}_baseline"] + [f"{m}_{d}_e{e}" for e in (6, 4, 2)
                                                             for m in ("effnet_v2", "mobilenetv2")]
                          + [f"mob_imp_{d}_e6"])
       for d, data in (("cifar", "cifar10"), ("svhn", "svhn"), ("gtsrb", "gtsrb"))},               # Tables 5-7
    # the demo's version: digits are SVHN-like (small digit images), so the SVHN-width networks
    "effnet-digits": ("digits", ["effnet_svhn_baseline", "mobilenet_svhn", "shufflenet_svhn", "effnet_svhn",
                                 "effnet_v2_svhn_e2", "mobilenetv2_svhn_e2"]),
}


@dataclass
class ModelSpec:
    """A network of the comparison: `name` or `name:block` (its 3×3 slots swapped for `block`)."""

    label: str
    name: str
    block: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        name, _, block = text.strip().partition(":")
        if not name:
            raise UserError(f"empty model name in {text!r}")
        return cls(text.strip(), name, block or None)


@dataclass
class CompareResult:
    data: str
    rows: list[dict]
    note: str
    config: dict
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def parse_models(models: str | None, preset: str | None) -> tuple[list[ModelSpec], str | None]:
    """(specs, the preset's data set) from `--models A,B:effnet,...` and/or `--preset NAME`."""
    if preset is not None and preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r} (one of: {', '.join(PRESETS)})")
    names = list(PRESETS[preset][1]) if preset else []
    if models:
        names += [m for m in models.split(",") if m.strip()]
    if not names:
        raise UserError("no networks to compare: pass --models A,B,... or --preset NAME")
    specs = [ModelSpec.parse(n) for n in names]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise UserError(f"a network is listed twice: {sorted(x for x in labels if labels.count(x) > 1)[0]}")
    from nivalis.models import model_family

    for spec in specs:
        model_family(spec.name)  # a UserError naming close matches when unknown
    return specs, (PRESETS[preset][0] if preset else None)


def block_kind(model) -> str:
    """What a built network is made of: effnet, effnet_v2, mobilenet, shufflenet, mobilenetv2, mob_imp or baseline."""
    import torch.nn as nn

    from nivalis.layers.depthwise_separable import DepthwiseSeparableConv
    from nivalis.layers.effnet_block import EffNetBlock, EffNetV2Block
    from nivalis.layers.inverted_residual import InvertedResidual
    from nivalis.layers.shuffle import ShuffleV1Unit

    kinds = [(EffNetV2Block, "effnet_v2"), (EffNetBlock, "effnet"), (DepthwiseSeparableConv, "mobilenet"),
             (ShuffleV1Unit, "shufflenet")]
    modules = list(model.modules())
    for cls, kind in kinds:
        if any(isinstance(m, cls) for m in modules):
            return kind
    inverted = [m for m in modules if isinstance(m, InvertedResidual)]
    if inverted:
        return "mob_imp" if any(isinstance(getattr(m, "pool", None), nn.MaxPool2d) for m in inverted) else "mobilenetv2"
    return "baseline"


def _model_kwargs(spec: ModelSpec, data, cfg: CompareConfig) -> tuple[dict, str | None]:
    """Keyword arguments for `create_model` (block swap, GTSRB dropout) and a note if dropout is not possible."""
    from nivalis.models import create_model
    from nivalis.models.block_swap import swap_blocks

    kwargs: dict = {"block": spec.block} if spec.block else {}
    if data.name != "gtsrb" or not cfg.gtsrb_dropout:
        return kwargs, None
    try:
        model = create_model(spec.name, num_classes=data.num_classes, in_chans=data.in_chans,
                             drop_rate=cfg.gtsrb_dropout)
        if spec.block:
            swap_blocks(model, spec.block, spec.name)
    except TypeError:
        return kwargs, f"{spec.label} takes no drop_rate, so it trains without the seed's GTSRB dropout"
    return {**kwargs, "drop_rate": cfg.gtsrb_dropout}, None


def _run_key(spec: ModelSpec, data_name: str, cfg: CompareConfig, run: int, model_kwargs: dict) -> dict:
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("runs", "latency_runs", "threads", "int8")}
    return {"model": spec.name, "block": spec.block, "data": data_name, "run": run, "model_kwargs": model_kwargs,
            **keep}



def _train_runs(spec: ModelSpec, data, cfg: CompareConfig, out_dir: Path | None, model_kwargs: dict,
                log: Callable[[str], None]) -> tuple[list[float], object]:
    from nivalis.engine import get_context
    from nivalis.engine.classify import train_classifier

    accs, model = [], None
    for run in range(cfg.runs):
        key = _run_key(spec, data.name, cfg, run, model_kwargs)
        run_dir = out_dir / "runs" / f"{spec.label.replace(':', '-')}-s{cfg.seed + run}" if out_dir else None
        done = run_dir / "compare_run.json" if run_dir else None
        if done is not None and done.is_file():
            saved = json.loads(done.read_text())
            if saved.get("key") == key:
                accs.append(float(saved["test_accuracy"]))
                log(f"{spec.label} run {run + 1}/{cfg.runs}: {accs[-1]:.4f} (reused {run_dir})")
                continue
        result = train_classifier(spec.name, data, config=cfg.train_config(run), out_dir=run_dir,
                                  model_kwargs=model_kwargs, desc=f"{spec.label} run {run + 1}/{cfg.runs}",
                                  factory=create_variant)
        accs.append(float(result.result["test_accuracy"]))
        model = result.model
        if done is not None and get_context().is_main:
            atomic_write_text(done, json.dumps({"key": key, "test_accuracy": accs[-1]}, indent=1))
        log(f"{spec.label} run {run + 1}/{cfg.runs}: test accuracy {accs[-1]:.4f}")
    return accs, model


def compare_models(specs: list[ModelSpec], data, config: CompareConfig | None = None, *,
                   out_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> CompareResult:
    """Train and measure every network of `specs` on `data` (a `ClassificationData`) by the protocol."""
    import torch

    cfg = config or CompareConfig()
    if cfg.runs < 1 or cfg.epochs < 1:
        raise UserError("--runs and --epochs must be at least 1")
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _compare(specs, data, cfg, Path(out_dir) if out_dir is not None else None, log or (lambda msg: None))
    finally:
        torch.set_num_threads(threads_before)


def _compare(specs: list[ModelSpec], data, cfg: CompareConfig, out_dir: Path | None,
             log: Callable[[str], None]) -> CompareResult:
    from nivalis.engine import get_context, seed_everything
    from nivalis.engine.classify import build_model
    from nivalis.profile import latency_ms, onnx_latency_ms

    t0 = time.perf_counter()
    rows, notes = [], []
    for spec in specs:
        model_kwargs, dropout_note = _model_kwargs(spec, data, cfg)
        if dropout_note:
            notes.append(dropout_note)
        seed_everything(cfg.seed)
        model, counts = build_model(spec.name, data, factory=create_variant, **model_kwargs)
        accs, trained = _train_runs(spec, data, cfg, out_dir, model_kwargs, log)
        model = trained if trained is not None else model  # latency of trained weights where available
        onnx_ms = onnx_latency_ms(model, data.input_shape, runs=cfg.latency_runs, threads=cfg.threads)
        torch_ms = latency_ms(model, data.input_shape, runs=cfg.latency_runs)
        int8 = {}
        if cfg.int8:
            from nivalis.profile.quantize import int8_comparison

            int8 = int8_comparison(model, data, latency_runs=cfg.latency_runs, threads=cfg.threads)
        rows.append({
            **int8,
            "model": spec.label, "kind": block_kind(model), "acc_mean": statistics.fmean(accs),
            "acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "flops": counts["flops"],
            "factor": math.nan, "latency_ms": onnx_ms, "torch_latency_ms": torch_ms, "params": counts["params"],
            "accs": accs,
        })
        log(f"{spec.label}: {rows[-1]['acc_mean']:.4f} ± {rows[-1]['acc_std']:.4f}, {counts['flops'] / 1e6:.3f} MFLOPs, "
            f"{onnx_ms:.3f} ms onnxruntime")
    reference = rows[0]["flops"]
    for row in rows:
        row["factor"] = row["flops"] / reference if reference else math.nan
    note = " ".join([efficiency_note(rows, data.in_chans), *notes])
    result = CompareResult(data=data.name, rows=rows, note=note, config=asdict(cfg),
                           seconds=time.perf_counter() - t0)
    if out_dir is not None and get_context().is_main:
        result.paths = write_outputs(result, out_dir)
    return result


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def efficiency_note(rows: list[dict], in_chans: int | None = None) -> str:
    """Computed sentences: EffNet against MobileNet and ShuffleNet (accuracy at FLOPs), and FLOPs vs latency.

    With `in_chans` = 1 and EffNet costlier than a network that keeps a vanilla first layer, the note
    says why (that layer costs a third of its RGB cost, and EffNet's first 1×1 sees one channel).
    """
    by_kind: dict[str, dict] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], row)
    eff = by_kind.get("effnet")
    sentences = []
    if eff is None:
        return "No EffNet v1 network in this comparison."
    for other_kind in ("mobilenet", "shufflenet"):
        other = by_kind.get(other_kind)
        if other is None:
            continue
        diff = eff["acc_mean"] - other["acc_mean"]
        noise = math.hypot(eff["acc_std"], other["acc_std"])
        flop_ratio = eff["flops"] / other["flops"]
        if diff > noise and diff > 0:
            verdict = "above"
        elif diff < -noise:
            verdict = "below"
        else:
            verdict = "level with (within the run-to-run spread of)"
        sentences.append(
            f"{eff['model']} is {verdict} {other['model']}: {_pct(eff['acc_mean'])} ± {_pct(eff['acc_std'])} vs "
            f"{_pct(other['acc_mean'])} ± {_pct(other['acc_std'])} test accuracy over {_runs(len(eff['accs']))}, "
            f"at {flop_ratio:.2f}× its FLOPs and {eff['latency_ms'] / other['latency_ms']:.2f}× its measured "
            f"onnxruntime latency.")
    keeps_first = [by_kind[k] for k in ("mobilenet", "shufflenet") if k in by_kind]
    if in_chans == 1 and any(eff["flops"] > other["flops"] for other in keeps_first):
        sentences.append(
            "Unlike the seed's RGB tables, EffNet is the costlier one here: with one input channel the vanilla "
            "first layer that MobileNet and ShuffleNet keep costs a third of its RGB cost, while EffNet replaces it "
            "(seed §3) by a block whose first 1×1 convolution sees a single channel.")
    runs = len(eff["accs"])
    if runs < 3:
        sentences.append(f"With {_runs(runs)} per network the spread is not estimated well (the seed uses 5).")
    base = by_kind.get("baseline")
    if base is not None:
        sentences.append(
            f"Against {base['model']}, {eff['model']} needs {eff['flops'] / base['flops']:.2f}× the FLOPs but takes "
            f"{eff['latency_ms'] / base['latency_ms']:.2f}× the onnxruntime and "
            f"{eff['torch_latency_ms'] / base['torch_latency_ms']:.2f}× the PyTorch latency (CPU, batch 1).")
    fastest = min(rows, key=lambda r: r["latency_ms"])
    cheapest = min(rows, key=lambda r: r["flops"])
    if fastest is not cheapest:
        sentences.append(f"FLOPs are not speed: {cheapest['model']} has the fewest FLOPs "
                         f"({cheapest['flops'] / 1e6:.3g} M) but {fastest['model']} runs fastest "
                         f"({fastest['latency_ms']:.3f} ms vs {cheapest['latency_ms']:.3f} ms, onnxruntime, batch 1).")
    return " ".join(sentences)


COLUMNS = ["model", "acc_mean", "acc_std", "flops", "factor", "latency_ms", "torch_latency_ms", "params"]


def markdown_table(rows: list[dict]) -> str:
    head = ("| model | accuracy (mean ± std) | MFLOPs | factor | onnxruntime ms | PyTorch ms | params |\n"
            "|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['model']} | {_pct(r['acc_mean'])} ± {_pct(r['acc_std'])} | {r['flops'] / 1e6:.3f} | {r['factor']:.2f} | "
        f"{r['latency_ms']:.3f} | {r['torch_latency_ms']:.3f} | {r['params']:,} |\n" for r in rows)
    if any("int8_latency_ms" in r for r in rows):
        return head + body + "\n" + int8_table(rows)
    return head + body


def int8_table(rows: list[dict]) -> str:
    """fp32 vs int8 (onnxruntime, measured one after the other in one run): accuracy and latency side by side."""
    head = ("| model | fp32 accuracy | int8 accuracy | fp32 ms | int8 ms | fp32/int8 latency |\n"
            "|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r['model']} | {_pct(r['acc_fp32_onnx'])} | {_pct(r['acc_int8'])} | {r['fp32_latency_ms']:.3f} | "
        f"{r['int8_latency_ms']:.3f} | {r['int8_speedup']:.2f}× |\n" for r in rows if "int8_latency_ms" in r)


def csv_table(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, "accs"], lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**{k: r[k] for k in COLUMNS}, "accs": " ".join(f"{a:.6f}" for a in r["accs"])})
    return buffer.getvalue()


def plot(rows: list[dict], path: Path, title: str) -> Path:
    """Accuracy against FLOPs and against measured onnxruntime latency, one point per network."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    from nivalis.figures import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    markers = "osD^vP*Xh<>p"
    for ax, key, label in ((axes[0], "flops", "MFLOPs (batch 1, multiply-add = 2)"),
                           (axes[1], "latency_ms", "onnxruntime CPU latency, batch 1 (ms)")):
        for i, r in enumerate(rows):
            x = r[key] / 1e6 if key == "flops" else r[key]
            ax.errorbar(x, 100 * r["acc_mean"], yerr=100 * r["acc_std"], fmt=markers[i % len(markers)],
                        color=f"C{i % 10}", capsize=3, markersize=7, label=r["model"])
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.margins(x=0.15, y=0.12)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("test accuracy (%), mean ± std over runs")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(rows), 4), fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 * ((len(rows) + 3) // 4), 1, 1))
    return save_figure(fig, path)


def write_outputs(result: CompareResult, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "compare.md", "csv": out_dir / "compare.csv", "json": out_dir / "compare.json"}
    atomic_write_text(paths["markdown"], f"# Comparison on {result.data}\n\n{markdown_table(result.rows)}\n{result.note}\n")
    atomic_write_text(paths["csv"], csv_table(result.rows))
    atomic_write_text(paths["json"], json.dumps({"data": result.data, "rows": result.rows, "note": result.note,
                                             "config": result.config}, indent=1, default=str))
    runs = len(result.rows[0]["accs"]) if result.rows else 0
    paths["plot"] = plot(result.rows, out_dir / "accuracy_vs_flops.png",
                         f"{result.data}: accuracy vs FLOPs and vs measured latency ({_runs(runs)} each)")
    return paths
