"""Dense throughput of `avalanche predict` on a 4-band uint16 scene with the 33 px CNN: Mpx/s per core, peak RSS.

One run compares, in fresh child processes, the dense net without its fast path (direct dilated convs and
glibc's allocator as it comes, as before `nivalis.avalanche.fastconv`) and with it, in the serial pipeline (read,
map and write one tile after the other, 512 px tiles), and the overlapped one (reader and writer threads around
the dense pass, reused input buffers, the tile side from the model's reach), each with 1 and 2 torch threads;
then the overlapped pipeline in bf16 (CPU autocast) and fp32 on a smaller scene, and bf16's effect on the map
against fp32 (largest probability difference, share of mask pixels that change).
Mpx/s per core = pixels / dense-pass wall seconds / torch threads; Mpx per CPU-second counts
every thread of the process (GDAL's included) over the whole predict. The serial run's stage seconds say where
the time goes (read + standardise, dense pass incl. sigmoid/threshold, tile writes, COG copies, polygons).

Run: `python benchmarks/avalanche_throughput.py [--size 6000] [--bf16-size 1024] [--no-record]` (heavy: run nothing else beside it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from avalanche_memory import write_checkpoint, write_scene  # the same scene and untrained CNN

CHILD = """
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
if not {fast}:  # the dense net as before its fast path: every conv direct and dilated (DenseWindowNet.fast off),
    import nivalis.avalanche.dense as dense  # glibc's allocator as it comes (fastconv.keep_freed_pages not called)
    import nivalis.avalanche.fastconv as fastconv
    dense._polyphase_ok = lambda layers: False
    fastconv.keep_freed_pages = lambda: False
from nivalis.avalanche.predict import predict_image
t = time.perf_counter()
r = predict_image({image!r}, {checkpoint!r}, {out!r}, tile={tile}, min_area_px=64, precision={precision!r},
                  overlap={overlap})
r["wall"] = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_SELF)
r["cpu"] = use.ru_utime + use.ru_stime
r["peak_mb"] = use.ru_maxrss / 1024
print(json.dumps(r))
"""

#: what the goal asks of one core: the dense net's multiply-adds per output pixel (every layer is stride 1 in its
#: dense form, so each conv's weight count is its MACs per pixel) and the core's best fp32 matmul rate
PEAK = """
import json, time, torch
torch.set_num_threads(1)
from nivalis.avalanche.dense import _DilatedConv, _LinearAsConv, dense_net
from nivalis.avalanche.models import load_classifier
net = dense_net(load_classifier({checkpoint!r}))
macs = sum(m.weight.numel() if isinstance(m, _DilatedConv) else m.linear.weight.numel()
           for m in [*net.body, net.last] if isinstance(m, (_DilatedConv, _LinearAsConv)))
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
a @ b
best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
print(json.dumps({{"macs_per_px": macs, "sgemm_gflops": 2 * 2048 ** 3 / best / 1e9}}))
"""

#: (pipeline, overlap, tile, threads, precision, scene): bf16 convolutions can be far slower than fp32 on a CPU
#: without native bf16 kernels, so its pair runs on the smaller scene
#: and the first row runs the dense net without its fast path (direct dilated convs), as every run did before it
RUNS = [("serial, 512 px, direct convs", False, 512, 1, "fp32", "big", False),
        ("serial, 512 px", False, 512, 1, "fp32", "big", True), ("serial, 512 px", False, 512, 2, "fp32", "big", True),
        ("overlapped (reach tile)", True, None, 1, "fp32", "big", True),
        ("overlapped (reach tile)", True, None, 2, "fp32", "big", True),
        ("overlapped (reach tile)", True, None, 1, "fp32", "small", True),
        ("overlapped (reach tile)", True, None, 1, "bf16", "small", True)]


def _compare(a: str, b: str) -> tuple[float, float]:
    """(largest |p_a − p_b|, share of valid pixels whose mask differs) over two probability/mask COG pairs."""
    import rasterio

    worst, changed, total = 0.0, 0, 0
    with rasterio.open(a) as pa, rasterio.open(b) as pb, rasterio.open(a.replace("_probability", "_mask")) as ma, \
            rasterio.open(b.replace("_probability", "_mask")) as mb:
        for _, win in pa.block_windows(1):
            x, y = pa.read(1, window=win), pb.read(1, window=win)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.any():
                worst = max(worst, float(np.abs(x[ok] - y[ok]).max()))
            m, n = ma.read(1, window=win), mb.read(1, window=win)
            changed += int(((m != n) & ok).sum())
            total += int(ok.sum())
    return worst, changed / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--bf16-size", type=int, default=1024, help="scene side of the fp32/bf16 pair")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to benchmarks/RESULTS")
    args = parser.parse_args()
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = tmp / "checkpoint.pt"
        write_checkpoint(checkpoint)
        images = {"big": (tmp / "big.tif", args.size), "small": (tmp / "small.tif", args.bf16_size)}
        for path, size in images.values():
            write_scene(path, size)
        for k, (name, overlap, tile, threads, precision, which, fast) in enumerate(RUNS):
            out = tmp / f"out{k}"
            image, size = images[which]
            mpx = size * size / 1e6
            code = CHILD.format(threads=threads, image=str(image), checkpoint=str(checkpoint), out=str(out),
                                tile=tile, precision=precision, overlap=overlap, fast=fast)
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if proc.returncode:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"predict failed: {name}, {threads} threads, {precision}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            outputs[k] = r["probability"]
            rows.append((name, threads, precision, r["tile"], mpx / r["map_seconds"] / threads, mpx / r["cpu"],
                         r["wall"], r["peak_mb"], r["stage_seconds"], size))
            print(f"{name:<26} {threads}t {precision}: {rows[-1][4]:.3f} Mpx/s/core, peak {r['peak_mb']:.0f} MB, "
                  f"stages {r['stage_seconds']}", flush=True)
        worst, changed = _compare(outputs[5], outputs[6])
        fast_worst, fast_changed = _compare(outputs[0], outputs[1])
        proc = subprocess.run([sys.executable, "-c", PEAK.format(checkpoint=str(checkpoint))], capture_output=True,
                              text=True, check=True)
        peak = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = ["| pipeline | scene (px) | threads | precision | tile | dense Mpx/s per core | Mpx per CPU-s "
             "| predict (s) | peak RSS (MB) |", "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {size:,}² | {t} | {p} | {tile} | {rate:.3f} | {cpu:.3f} | {wall:.1f} | {mb:.0f} |"
              for n, t, p, tile, rate, cpu, wall, mb, _, size in rows]
    stages = rows[1][8]
    lines.append(f"\n{args.size:,}² 4-band uint16 GeoTIFF (red,green,blue read, nodata border), untrained 33 px CNN, "
                 "COG outputs, polygons ≥ 64 px. Where the serial 1-thread run spends its time (s): "
                 + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
                 + f". Fast path vs direct convs (serial, 1 thread): largest probability difference {fast_worst:.2g}, "
                 f"mask pixels changed {100 * fast_changed:.3f} %. bf16 vs fp32 (overlapped, 1 thread, "
                 f"{args.bf16_size:,}²): largest probability difference {worst:.4f}, "
                 f"mask pixels changed {100 * changed:.3f} %. Goal: ≥ 1.0 Mpx/s per core at 1 thread fp32, "
                 "peak RSS ≤ 1,000 MB.")
    need = 2 * peak["macs_per_px"] / 1e3  # GFLOP/s for 1 Mpx/s
    reached = max(r[4] for r in rows if r[1] == 1 and r[2] == "fp32") * need
    lines.append(f"\nThe dense net does {peak['macs_per_px']:,} multiply-adds per output pixel: 1.0 Mpx/s on one core "
                 f"needs {need:.1f} GFLOP/s of convolution, {100 * need / peak['sgemm_gflops']:.0f} % of this core's "
                 f"best fp32 matmul ({peak['sgemm_gflops']:.1f} GFLOP/s, 2048² sgemm, 1 thread); the best 1-thread run "
                 f"above did the work of {reached:.1f} GFLOP/s of direct convolution over its whole map (reading, "
                 "pooling and writing included; the fast path does it with fewer multiplications).")
    body = "\n".join(lines)
    print(body)
    if not args.no_record:
        from results import record

        record("Avalanche predict: dense throughput per core, direct vs fast convs, serial vs overlapped pipeline", body)


if __name__ == "__main__":
    main()
