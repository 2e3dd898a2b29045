"""Seconds per training epoch of the snow models, path by path, recorded in `benchmarks/RESULTS.md`.

For each model and precision, in one run and side by side:

- **PyTorch cell** (the default): the fused recurrence (`lstm_recurrence`) with the cell equations op by op
  in PyTorch;
- **C cell** (``NIVALIS_NATIVE=1``): the same recurrence with the compiled cell (`nivalis.layers.native_lstm`),
  built here into the private cache (``$NIVALIS_CACHE`` or ``~/.cache/nivalis``); ``-`` with the reason where
  it cannot be built;
- **op-by-op**: autograd records every gate op (`GConvLSTM` with ``fused`` off, nn.LSTM's own kernel);
- **per-graph**: how the public GCN-LSTM implementations train (PyTorch Geometric Temporal's GConvLSTM, one
  radargram's sequence of graphs per step, sparse message passing over the 65,280 edges of a fully
  connected 256-node graph), the *same* weights through `GConvLSTM.forward_sparse` / PyG's `GCNConv` /
  `nn.LSTM`, one radargram at a time, extrapolated from ``--sample`` radargrams (``--sample 0``: skipped).

It also counts the floating-point operations of one training epoch (forward + backward, PyTorch's
`FlopCounterMode`; ``--no-flops``: skipped) and projects the seed's full protocol (3 models × 5 splits × 150
epochs) from the measured epochs, so a slow protocol can be told apart from a compute-bound one.

    python benchmarks/snow_epoch.py                       # 816 simulated radargrams, fp32 and bf16
    python benchmarks/snow_epoch.py --radargrams 120 --precision bf16 --sample 0 --no-flops --threads 1
    python benchmarks/snow_epoch.py --data DIR --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from torch_geometric.nn import GCNConv

from nivalis.engine import fit, regression_task
from nivalis.errors import UserError
from nivalis.layers import native_lstm
from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import SnowGraphs, fit_graph_stats, load_dataset
from nivalis.snow.simulate import SimulatorConfig, simulate_campaign
from nivalis.snow.train import _train_config, build_model, split_indices
from results import record  # benchmarks/results.py, beside this script


def per_graph_forward(name: str, model: torch.nn.Module, x: torch.Tensor, edge_index: torch.Tensor,
                      edge_weight: torch.Tensor, gcn_conv: GCNConv | None) -> torch.Tensor:
    """One radargram ([T, N, F]) through PyG's sparse layers with the model's own weights → [N, P]."""
    if name == "gcn_lstm":
        h, _ = model.recurrent.forward_sparse(x, edge_index, edge_weight)
    elif name == "gcn":
        h = gcn_conv(model.node_features(x[None])[0], edge_index, edge_weight)
    else:
        _, (h, _) = model.recurrent(x.permute(1, 0, 2))
        h = h[-1]
    return model.head(h)


def time_per_graph(name: str, model, data: SnowGraphs, sample: int, precision: str) -> float:
    """Seconds per radargram of a per-graph training loop (one optimiser step per radargram)."""
    nodes = data.adjacency.shape[-1]
    full = ~torch.eye(nodes, dtype=torch.bool)
    edge_index = full.nonzero().t().contiguous()
    gcn_conv = None
    if name == "gcn":
        gcn_conv = GCNConv(model.conv.in_channels, model.conv.out_channels)
        gcn_conv.lin.weight, gcn_conv.bias = model.conv.lin.weight, model.conv.bias  # shared parameters
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    times = []
    for i in range(min(sample + 1, len(data))):
        t0 = time.perf_counter()
        opt.zero_grad()
        weight = data.adjacency[i][full]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = per_graph_forward(name, model, data.features[i], edge_index, weight, gcn_conv)
        F.mse_loss(out.float(), data.targets[i]).backward()
        opt.step()
        if i:  # the first step pays one-time allocations
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


def set_fused(name: str, model: torch.nn.Module, fused: bool) -> bool:
    """Switch a recurrent model between its fused and op-by-op paths; False for models without one."""
    if name == "gcn_lstm":
        model.recurrent.fused = fused
    elif name == "lstm":
        model.fused = fused
    else:
        return False
    return True


def epoch_seconds(model: torch.nn.Module, data: SnowGraphs, cfg: SnowConfig) -> float:
    """The fastest of ``cfg.epochs - 1`` training epochs after a first one that warms allocator and caches
    (the fastest: other processes on shared cores only ever add time)."""
    result = fit(model, data, None, config=_train_config(cfg, 0), task=regression_task(), out_dir=None)
    return min(epoch["seconds"] for epoch in result.history[1:])


def lstm_unrolled(model: torch.nn.Module, features: torch.Tensor) -> torch.Tensor:
    """The `lstm` model's forward written step by step with its own weights (no fused kernel, no padding).

    nn.LSTM's CPU kernel runs its matmuls where `FlopCounterMode` cannot see them; this form exposes them.
    """
    b, t, n, f = features.shape
    lstm = model.recurrent
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
    h = c = None
    for x_t in features.permute(1, 0, 2, 3).reshape(t, b * n, f):
        z = F.linear(x_t, lstm.weight_ih_l0, bias)
        if h is not None:
            z = z + F.linear(h, lstm.weight_hh_l0)
        i, f_gate, g, o = z.chunk(4, -1)
        c = torch.sigmoid(i) * torch.tanh(g) if c is None else (
            torch.sigmoid(f_gate) * c + torch.sigmoid(i) * torch.tanh(g))
        h = torch.sigmoid(o) * torch.tanh(c)
    return model.head(h.view(b, n, -1))


def epoch_flops(name: str, model: torch.nn.Module, data: SnowGraphs, batch_size: int) -> float:
    """Floating-point operations of one training epoch (matmuls forward + backward; pointwise ops not counted).

    Counted on the op-by-op path (for `lstm`, `lstm_unrolled`): the model's own arithmetic, without the fused
    path's alignment padding.
    """
    model.train()
    forward = (lambda x, _: lstm_unrolled(model, x)) if name == "lstm" else model
    total = 0.0
    for start in range(0, len(data), batch_size):
        sl = slice(start, start + batch_size)
        with FlopCounterMode(display=False) as counter:
            F.mse_loss(forward(data.features[sl], data.adjacency[sl]), data.targets[sl]).backward()
        total += counter.get_total_flops()
    model.zero_grad(set_to_none=True)
    return total


def matmul_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """What this CPU's matmul reaches on large square matrices: the ceiling an epoch could approach."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - t0) / 1e9


def c_cell() -> str | None:
    """None where the C cell runs here (``NIVALIS_NATIVE=1``), else why not."""
    previous = native_lstm.set_enabled(True)
    try:
        native_lstm.available()
        return None
    except UserError as exc:
        return str(exc)
    finally:
        native_lstm.set_enabled(previous)


def cell_seconds(name: str, stats, data: SnowGraphs, cfg: SnowConfig, native: bool) -> float:
    """Seconds per epoch of the fused recurrence with the PyTorch cell (``native`` False) or the C cell."""
    previous = native_lstm.set_enabled(native)
    try:
        return epoch_seconds(build_model(name, stats, cfg, seed=0)[0], data, cfg)
    finally:
        native_lstm.set_enabled(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="folder of radargram .mat files (default: simulate)")
    parser.add_argument("--radargrams", type=int, default=816)
    parser.add_argument("--precision", default="fp32,bf16")
    parser.add_argument("--models", default="lstm,gcn,gcn_lstm")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sample", type=int, default=12, help="radargrams timed in the per-graph loop (0: skip it)")
    parser.add_argument("--no-unfused", action="store_true", help="skip the op-by-op path")
    parser.add_argument("--no-flops", action="store_true", help="skip counting the epoch's FLOPs")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement; the first is not timed")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data
        if data_dir is None:
            data_dir = Path(tmp)
            simulate_campaign(data_dir, SimulatorConfig(radargrams=args.radargrams, seed=0))
        cfg = SnowConfig(batch_size=args.batch_size)
        arrays, summary = load_dataset(data_dir, cfg)
    train_idx, _ = split_indices(len(arrays), cfg)[0]
    train = arrays.subset(train_idx)
    stats = fit_graph_stats(train)
    data = SnowGraphs.build(train, stats)
    threads = torch.get_num_threads()
    setting = (f"{summary.usable} usable radargrams of {summary.files}; one epoch = {len(data)} training "
               f"radargrams; {threads} thread(s); batch {args.batch_size}; s/epoch = the fastest of "
               f"{max(2, args.epochs) - 1} timed epochs after a warm-up one")
    print(setting)
    why_not = c_cell()
    if why_not is None:
        setting += f"; C cell compiled with {' '.join(native_lstm._flags())} (NIVALIS_NATIVE_MARCH adds -march)"
    print(f"C cell (NIVALIS_NATIVE=1): {'built and self-tested' if why_not is None else 'unavailable: ' + why_not}")
    header = ["model", "precision", "PyTorch cell s/epoch (default)", "C cell s/epoch (NIVALIS_NATIVE=1)",
              "C cell speed-up", "op-by-op s/epoch", "per-graph s/epoch", "GFLOP/epoch"]
    print("  ".join(header))
    rows, notes = [], []
    protocol = SnowConfig()
    flops: dict[str, float] = {}
    for precision in args.precision.split(","):
        totals = {"pytorch": 0.0, "c": 0.0}
        for name in args.models.split(","):
            run_cfg = SnowConfig(batch_size=args.batch_size, precision=precision, epochs=max(2, args.epochs))
            recurrent = name in ("lstm", "gcn_lstm")
            default = cell_seconds(name, stats, data, run_cfg, native=False)
            native = cell_seconds(name, stats, data, run_cfg, native=True) if recurrent and why_not is None else None
            totals["pytorch"] += default
            totals["c"] += default if native is None else native
            unfused = None
            if not args.no_unfused:
                model, _ = build_model(name, stats, run_cfg, seed=0)
                if set_fused(name, model, False):
                    unfused = epoch_seconds(model, data, run_cfg)
            per_graph = None
            if args.sample:
                model, _ = build_model(name, stats, run_cfg, seed=0)
                per_graph = time_per_graph(name, model, data, args.sample, precision) * len(data)
            if not args.no_flops and name not in flops:
                model, _ = build_model(name, stats, run_cfg, seed=0)
                set_fused(name, model, False)
                flops[name] = epoch_flops(name, model, data, args.batch_size)
            row = [name, precision, f"{default:.2f}", "-" if native is None else f"{native:.2f}",
                   "-" if native is None else f"{default / native:.2f}×",
                   "-" if unfused is None else f"{unfused:.2f}", "-" if per_graph is None else f"{per_graph:.1f}",
                   f"{flops[name] / 1e9:.0f}" if name in flops else "-"]
            rows.append(row)
            print("  ".join(row), flush=True)
        runs = protocol.splits * protocol.epochs
        note = (f"{precision}: the full protocol ({len(args.models.split(','))} models × {protocol.splits} splits × "
                f"{protocol.epochs} epochs on this campaign) projects to {totals['pytorch'] * runs / 60:.1f} min of "
                f"training with the PyTorch cell")
        if why_not is None:
            note += f", {totals['c'] * runs / 60:.1f} min with the C cell"
        note += f", on {threads} thread(s)"
        if flops:
            peak = matmul_gflops(torch.bfloat16 if precision == "bf16" else torch.float32)
            note += (f"; its matmuls are {sum(flops.values()) * runs / 1e12:.0f} TFLOP, at least "
                     f"{sum(flops.values()) * runs / peak / 1e9 / 60:.1f} min at the {peak:.0f} GFLOP/s of a 2048² "
                     "matmul here")
        notes.append(note)
        print(f"  {note}", flush=True)
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    body = "\n".join([setting + ".", "", *table, "", *(f"- {note}" for note in notes)])
    if why_not is not None:
        body += f"\n- C cell unavailable: {why_not}"
    record("Snow models: seconds per training epoch, PyTorch cell vs C cell", body)


if __name__ == "__main__":
    main()
