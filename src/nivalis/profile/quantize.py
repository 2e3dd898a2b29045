"""int8 ONNX models for field hardware: ONNX Runtime static quantization, calibrated on a data set.

Why ONNX Runtime's static quantization and not PyTorch's PT2E flow: it adds no dependency (onnxruntime
already checks every export), its output is a plain ONNX file that runs wherever onnxruntime runs (ARM
boards and x86 machines without PyTorch), and QDQ graphs with per-channel weights are the form its CPU
and NPU execution providers accelerate. Activation ranges come from calibration batches of real images
(`MinMax` over the batches), so the int8 model is only as good as the calibration set is representative.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from nivalis.files import atomic_path

__all__ = ["calibration_batches", "int8_comparison", "int8_export", "onnx_accuracy", "onnx_file_latency_ms",
           "quantize_int8"]


def _reader(batches: Iterable[np.ndarray], input_name: str = "input"):
    from onnxruntime.quantization import CalibrationDataReader

    class BatchReader(CalibrationDataReader):
        """Feeds the calibration batches one by one (float32 NCHW), as quantize_static asks for them."""

        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: np.ascontiguousarray(batch, dtype=np.float32)}

    return BatchReader()


def quantize_int8(onnx_path: str | os.PathLike, int8_path: str | os.PathLike,
                  calibration: Iterable[np.ndarray]) -> Path:
    """Write the int8 (QDQ, per-channel weights, uint8 activations) version of `onnx_path` to `int8_path`."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    int8_path = Path(int8_path)
    with tempfile.TemporaryDirectory() as work:
        # Shape inference and graph clean-up first, as onnxruntime recommends before static quantization.
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        with atomic_path(int8_path) as tmp:
            quantize_static(str(prepared), str(tmp), _reader(calibration), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return int8_path


def onnx_accuracy(onnx_path: str | os.PathLike, images: np.ndarray, labels: np.ndarray, batch: int = 256) -> float:
    """Top-1 accuracy of an ONNX classifier (input named "input") on float32 NCHW images."""
    from nivalis.profile.onnx import session

    ort_session = session(Path(onnx_path).read_bytes())
    correct = 0
    for start in range(0, len(images), batch):
        scores = ort_session.run(None, {"input": np.ascontiguousarray(images[start:start + batch], dtype=np.float32)})[0]
        correct += int((scores.argmax(1) == labels[start:start + batch]).sum())
    return correct / max(1, len(images))


def onnx_file_latency_ms(onnx_path: str | os.PathLike, input_shape: tuple[int, ...], *, runs: int = 30,
                         warmup: int = 5, threads: int | None = None) -> float:
    """Median onnxruntime CPU latency (batch 1) of an ONNX file, e.g. an int8 model."""
    from nivalis.profile.onnx import session, session_latency_ms

    x = np.random.default_rng(0).standard_normal((1, *input_shape)).astype(np.float32)
    return session_latency_ms(session(Path(onnx_path).read_bytes(), threads), x, runs=runs, warmup=warmup)


def calibration_batches(data, images: int, batch: int = 64) -> list[np.ndarray]:
    """The first `images` training images of `data` (a `ClassificationData`) in batches for `quantize_int8`."""
    train_x = data.train.tensors[0][:images].numpy()
    return [train_x[i:i + batch] for i in range(0, len(train_x), batch)]


def int8_export(onnx_path: str | os.PathLike, data, calibration_images: int = 512) -> dict:
    """Quantize `onnx_path` next to itself (OUT.int8.onnx), calibrated on `data`'s training split.

    Returns {"int8", "calibration", "accuracy_fp32", "accuracy_int8"}: both accuracies by onnxruntime on the
    test split.
    """
    onnx_path = Path(onnx_path)
    batches = calibration_batches(data, calibration_images)
    int8_path = quantize_int8(onnx_path, onnx_path.with_suffix(".int8.onnx"), batches)
    test_x, test_y = data.test.tensors[0].numpy(), data.test.tensors[1].numpy()
    return {"int8": str(int8_path), "calibration": {"data": data.name, "images": sum(map(len, batches))},
            "accuracy_fp32": onnx_accuracy(onnx_path, test_x, test_y),
            "accuracy_int8": onnx_accuracy(int8_path, test_x, test_y)}


def int8_comparison(model, data, *, calibration_images: int = 512, latency_runs: int = 30,
                    threads: int | None = None) -> dict:
    """fp32 vs int8 side by side for a trained classifier on `data` (a `ClassificationData`).

    Returns {"acc_fp32_onnx", "acc_int8", "fp32_latency_ms", "int8_latency_ms", "int8_speedup"}: accuracies on
    the test split, latencies measured one after the other in this process (batch 1, same threads).
    """
    from nivalis.profile.onnx import export_onnx

    with tempfile.TemporaryDirectory() as work:
        fp32 = Path(work) / "model.onnx"
        export_onnx(model, data.input_shape, fp32)
        int8 = quantize_int8(fp32, Path(work) / "model.int8.onnx", calibration_batches(data, calibration_images))
        test_x, test_y = data.test.tensors[0].numpy(), data.test.tensors[1].numpy()
        fp32_ms = onnx_file_latency_ms(fp32, data.input_shape, runs=latency_runs, threads=threads)
        int8_ms = onnx_file_latency_ms(int8, data.input_shape, runs=latency_runs, threads=threads)
        return {"acc_fp32_onnx": onnx_accuracy(fp32, test_x, test_y), "acc_int8": onnx_accuracy(int8, test_x, test_y),
                "fp32_latency_ms": fp32_ms, "int8_latency_ms": int8_ms, "int8_speedup": fp32_ms / int8_ms}
