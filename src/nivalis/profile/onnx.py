"""ONNX export checked against PyTorch with onnxruntime, and onnxruntime CPU latency."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from nivalis.files import atomic_path
from nivalis.profile.latency import median_ms


def _to_onnx_bytes(model: nn.Module, x: torch.Tensor, opset: int = 17) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter needs no onnxscript and handles every zoo family.
        torch.onnx.export(model, (x,), buffer, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    return buffer.getvalue()


def session(onnx_bytes: bytes, threads: int | None = None):
    """An onnxruntime CPU session of an ONNX model in memory (`threads`: intra-op threads, default its own)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: str | os.PathLike, *, batch: int = 2,
                seed: int = 0) -> dict:
    """Export `model` (eval mode) to `path` atomically; return {"onnx": path, "max_abs_diff": float}.

    The difference is the largest absolute gap between PyTorch and onnxruntime outputs on a
    seeded random input of `batch` samples.
    """
    model = model.eval()
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    data = _to_onnx_bytes(model, x)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    expected = model(x)
    got = session(data).run(None, {"input": x.numpy()})[0]
    diff = float(np.max(np.abs(got - expected.numpy()))) if got.size else 0.0
    return {"onnx": str(path), "max_abs_diff": diff}


@torch.no_grad()
def onnx_latency_ms(model: nn.Module, input_shape: tuple[int, ...], *, runs: int = 30, warmup: int = 5,
                    threads: int | None = None) -> float:
    """Median onnxruntime CPU latency (batch 1) of the model exported in memory.

    `threads` fixes onnxruntime's intra-op threads (default: its own choice, all cores).
    """
    model = model.eval()
    x = torch.randn(1, *input_shape)
    return session_latency_ms(session(_to_onnx_bytes(model, x), threads), x.numpy(), runs=runs, warmup=warmup)


def session_latency_ms(ort_session, x: np.ndarray, *, runs: int, warmup: int) -> float:
    """Median latency of an onnxruntime session on input `x` (fed as "input")."""
    feed = {"input": x}
    return median_ms(lambda: ort_session.run(None, feed), runs=runs, warmup=warmup)
