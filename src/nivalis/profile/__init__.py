"""Measure models: parameters, FLOPs, per-layer data flow, CPU latency, ONNX export (+ int8)."""

from nivalis.profile.counts import count, parse_input_shape
from nivalis.profile.dataflow import dataflow
from nivalis.profile.latency import latency_ms
from nivalis.profile.onnx import export_onnx, onnx_latency_ms
from nivalis.profile.quantize import onnx_accuracy, quantize_int8

__all__ = ["count", "dataflow", "latency_ms", "export_onnx", "onnx_latency_ms", "parse_input_shape",
           "onnx_accuracy", "quantize_int8"]
