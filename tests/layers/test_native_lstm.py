"""The compiled LSTM cell (`native_lstm`) against the same equations op by op in PyTorch: one step forward and
backward (bf16 and float32, rows with a stride), whole recurrences with their gradients, and what
happens when it cannot be built: one cached build per machine, a self-test that rejects a wrong library, and
PyTorch taking over without a compiler or with NIVALIS_NATIVE=0."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import torch

from nivalis.layers import graph_conv_lstm, native_lstm
from nivalis.layers.graph_conv_lstm import GConvLSTM, lstm_recurrence, scaled_laplacian

needs_compiler = pytest.mark.skipif(native_lstm._compiler() is None, reason="no C compiler on this machine")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state that has not tried to build the library yet, with its cache in tmp_path."""
    monkeypatch.setattr(native_lstm, "_state", {"lib": None, "tried": False, "enabled": True})
    monkeypatch.setenv("NIVALIS_CACHE", str(tmp_path))
    return tmp_path


def _graph(nodes: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(nodes, nodes, generator=gen)
    return (a + a.t()) / 2


def _step_inputs(rows: int, hidden: int, low: torch.dtype, seed: int):
    gen = torch.Generator().manual_seed(seed)
    width = 4 * hidden
    z = (torch.randn(rows, width + 8, generator=gen) * 2).to(low)[:, :width]      # rows with a stride, as in training
    cells = torch.randn(2, rows, hidden, generator=gen)                             # cells[0] = C_{t-1}
    w_c = torch.randn(3, hidden, generator=gen) * 0.5
    dh = torch.randn(rows, hidden + 5, generator=gen).to(low)[:, :hidden]
    dc = torch.randn(rows, hidden, generator=gen)
    return z, cells, w_c, dh, dc


@needs_compiler
@pytest.mark.parametrize("low", [torch.float32, torch.bfloat16])
def test_one_step_equals_pytorch_cell(low):
    """Forward: gates, C, tanh C, H. Backward: dZ, dC_{t-1} and the peephole gradients."""
    rows, hidden = 300, 24
    z, cells, w_c, dh, dc = _step_inputs(rows, hidden, low, seed=1)
    got_cells, want_cells = cells.clone(), cells.clone()
    got_g, want_g = torch.empty(rows, 4, hidden), torch.empty(rows, 4, hidden)
    got_tc, want_tc = torch.empty(rows, hidden), torch.empty(rows, hidden)
    got_h, want_h = torch.empty(rows, hidden + 3, dtype=low)[:, :hidden], torch.empty(rows, hidden, dtype=low)
    native_lstm.forward_step(z, got_cells[0], w_c, got_g.view(rows, -1), got_cells[1], got_tc, got_h)
    graph_conv_lstm._cell_forward(z, want_g, want_cells, want_tc, 1, w_c, want_h)
    for got, want in ((got_g, want_g), (got_cells, want_cells), (got_tc, want_tc)):
        torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)
    # H in bf16 may round the other way where the float32 values differ in the last bit
    torch.testing.assert_close(got_h.float(), want_h.float(), rtol=1e-2 if low == torch.bfloat16 else 2e-6,
                               atol=2e-6)

    got_dc, want_dc = dc.clone(), dc.clone()
    got_dz = torch.empty(rows, 4 * hidden + 4, dtype=low)[:, :4 * hidden]
    peep = torch.zeros(3, hidden, dtype=torch.float64)
    native_lstm.backward_step(dh, got_dc, want_g.view(rows, -1), want_cells[1], want_tc, want_cells[0], w_c,
                              got_dz, peep)
    da, tmp, peep_rows = torch.empty(rows, 4, hidden), torch.empty(rows, hidden), torch.zeros(rows, 3, hidden)
    graph_conv_lstm._cell_backward(dh.float(), want_dc, want_g, want_cells, want_tc, 1, w_c, da, tmp, peep_rows)
    torch.testing.assert_close(got_dc, want_dc, rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(got_dz.float(), da.view(rows, -1).to(low).float(),
                               rtol=1e-2 if low == torch.bfloat16 else 2e-5, atol=2e-6)
    torch.testing.assert_close(peep, peep_rows.sum(0).double(), rtol=1e-4, atol=1e-4)
    assert peep.abs().sum() > 0


@needs_compiler
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("peephole", [True, False])
def test_recurrence_compiled_equals_pytorch_values_and_gradients(k, peephole):
    """Float32, a loss on both H_T and C_T, gradients of every input, the Laplacian's included."""
    torch.manual_seed(20 + k)
    steps, batch, nodes, feats, hidden = 5, 3, 40, 3, 16
    lap = scaled_laplacian(torch.stack([_graph(nodes, s) for s in range(batch)]))
    inputs = [torch.randn(steps, batch * nodes, k * feats), torch.randn(k * feats, 4 * hidden) * 0.4,
              torch.randn(4 * hidden) * 0.5, torch.randn(k * hidden, 4 * hidden) * 0.3,
              torch.randn(3, hidden) * 0.5 if peephole else None, lap]
    results = []
    for compiled in (True, False):
        leaves = [None if t is None else t.clone().requires_grad_() for t in inputs]
        h, c = lstm_recurrence(*leaves[:5], leaves[5], k=k, batch=batch, compiled=compiled)
        (h.sin().sum() + (0.3 * c).cos().sum()).backward()
        grads = [torch.zeros_like(t) if t.grad is None else t.grad for t in leaves if t is not None]
        results.append([h.detach(), c.detach(), *grads])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=5e-5, atol=5e-5)
    assert (results[0][-1].abs().sum() > 0) == (k > 1)                  # the Laplacian's gradient where it is used


@needs_compiler
def test_two_rows_without_peepholes():
    """Fewer rows than peephole vectors: the zero peepholes are their own buffer, not a slice of the rows."""
    torch.manual_seed(2)
    args = [torch.randn(4, 2, 3), torch.randn(3, 20), torch.randn(20), torch.randn(5, 20)]
    outs = [lstm_recurrence(*args, compiled=compiled) for compiled in (True, False)]
    for got, want in zip(*outs):
        torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)


@needs_compiler
def test_gconvlstm_bf16_autocast_compiled_equals_pytorch_cell():
    torch.manual_seed(5)
    cell = GConvLSTM(3, 32, K=2)
    lap = scaled_laplacian(_graph(64, 3))
    x = torch.randn(4, 6, 64, 3)
    out = {}
    for enabled in (True, False):
        previous = native_lstm.set_enabled(enabled)
        try:
            cell.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                h, c = cell(x, lap)
            (h.sum() + c.square().sum()).backward()
        finally:
            native_lstm.set_enabled(previous)
        out[enabled] = (h.detach(), [p.grad.clone() for p in cell.parameters()])
    assert (out[True][0] - out[False][0]).abs().max() < 0.02              # same bf16 matmuls, float32 gates
    for a, b in zip(out[True][1], out[False][1]):
        assert (a - b).norm() <= 0.03 * b.norm() + 1e-6


@needs_compiler
def test_built_once_into_the_cache_then_reused(fresh, monkeypatch):
    assert native_lstm.available()
    built = list((fresh / "native").iterdir())
    assert len(built) == 1 and built[0].suffix == ".so"                # no temp file left beside it
    stamp = built[0].stat().st_mtime_ns
    monkeypatch.setattr(native_lstm, "_state", {"lib": None, "tried": False, "enabled": True})

    def no_compiler(*args, **kwargs):
        raise AssertionError("the cached library should have been reused")

    monkeypatch.setattr(native_lstm.subprocess, "run", no_compiler)
    assert native_lstm.available()
    assert list((fresh / "native").iterdir()) == built and built[0].stat().st_mtime_ns == stamp


@needs_compiler
@pytest.mark.parametrize("context", ["no_grad", "inference_mode"])
def test_first_use_under_no_grad_still_loads_the_library(fresh, caplog, context):
    # `nivalis snow predict` reaches the cell first inside inference mode: the self-test's backward must not
    # fail there and silently leave prediction on the slower PyTorch path
    with caplog.at_level(logging.WARNING, logger=native_lstm.__name__):
        with getattr(torch, context)():
            assert native_lstm.available()
            assert torch.is_inference_mode_enabled() == (context == "inference_mode")
            assert not torch.is_grad_enabled()
    assert not caplog.records


@needs_compiler
def test_an_unusable_cache_falls_back_to_the_temp_dir(fresh, monkeypatch):
    blocker = fresh / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NIVALIS_CACHE", str(blocker / "cache"))                # cannot be created
    monkeypatch.setattr(native_lstm.tempfile, "gettempdir", lambda: str(fresh / "tmp"))
    assert native_lstm.available()
    assert len(list((fresh / "tmp").glob("nivalis-native-*/lstm_cell-*.so"))) == 1


@needs_compiler
def test_a_library_that_computes_wrong_numbers_is_rejected(fresh, monkeypatch, caplog):
    """The self-test against PyTorch: a kernel with the output gate's derivative sign-flipped never runs."""
    source = native_lstm.SOURCE.read_text()
    wrong = source.replace("o * (1.0f - o)", "o * (1.0f + o)")
    assert wrong != source
    path = fresh / "lstm_cell.c"
    path.write_text(wrong)
    monkeypatch.setattr(native_lstm, "SOURCE", path)
    with caplog.at_level(logging.WARNING, logger=native_lstm.__name__):
        assert native_lstm.library() is None
    assert "self-test: dZ" in caplog.text


def test_a_compiler_that_fails_leaves_pytorch_in_charge(fresh, monkeypatch, caplog):
    monkeypatch.setenv("CC", "false")                                    # a "compiler" that always fails
    with caplog.at_level(logging.WARNING, logger=native_lstm.__name__):
        assert not native_lstm.available()
    assert "false failed" in caplog.text
    assert not list((fresh / "native").iterdir())                       # its temp output was removed


@needs_compiler
def test_nan_stays_nan_in_bf16():
    """A NaN in the gates propagates to H as NaN, as in PyTorch: not clamped to a finite value by the exp's range
    limits, not rounded to an infinity by the bf16 conversion; the other rows stay finite."""
    rows, hidden = 4, 8
    z, cells, w_c, _, _ = _step_inputs(rows, hidden, torch.bfloat16, seed=4)
    z[1, 3] = float("nan")
    gates, tanh_c = torch.empty(rows, 4 * hidden), torch.empty(rows, hidden)
    h = torch.empty(rows, hidden, dtype=torch.bfloat16)
    native_lstm.forward_step(z, cells[0], w_c, gates, cells[1], tanh_c, h)
    assert torch.isnan(h[1, 3]) and torch.isfinite(h[0]).all() and not torch.isinf(h).any()


def test_without_a_compiler_pytorch_takes_over(fresh, monkeypatch, caplog):
    monkeypatch.setattr(native_lstm, "_compiler", lambda: None)
    with caplog.at_level(logging.WARNING, logger=native_lstm.__name__):
        assert not native_lstm.available()
    assert "no C compiler" in caplog.text and caplog.text.count("unavailable") == 1
    native_lstm.available()                                            # tried once per process, warned once
    assert caplog.text.count("unavailable") == 1
    torch.manual_seed(0)
    cell = GConvLSTM(2, 8, K=2)
    lap = scaled_laplacian(_graph(10, 1))
    x = torch.randn(2, 4, 10, 2)
    h, _ = cell(x, lap)
    h.sum().backward()                                                 # trains through the PyTorch cell
    assert all(p.grad is not None for p in cell.parameters())
    with pytest.raises(ValueError, match="compiled LSTM cell cannot run"):
        lstm_recurrence(torch.randn(3, 4, 2), torch.randn(2, 8), torch.randn(8), torch.randn(2, 8), compiled=True)


def test_nivalis_native_0_turns_it_off():
    env = {**os.environ, "NIVALIS_NATIVE": "0"}
    code = "from nivalis.layers import native_lstm; print(native_lstm.available())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_scaled_laplacian_in_place_path_equals_autograd_path():
    """Without a gradient to record the Laplacian is built in place on one copy; with one, op by op."""
    adjacency = torch.stack([_graph(30, s) for s in range(3)])
    adjacency[0, 4] = adjacency[0, :, 4] = 0                            # an isolated node: a zero row
    before = adjacency.clone()
    for lambda_max in (2.0, 1.5):
        fast = scaled_laplacian(adjacency, lambda_max)
        recorded = scaled_laplacian(adjacency.clone().requires_grad_(), lambda_max)
        torch.testing.assert_close(fast, recorded.detach(), rtol=1e-6, atol=1e-7)
        assert fast[0, 4, torch.arange(30) != 4].abs().sum() == 0
    assert torch.equal(adjacency, before)                                # the input is left as it was


@needs_compiler
def test_wrong_shapes_and_dtypes_are_refused_before_the_c_code_runs():
    rows, hidden = 8, 4
    z, cells, w_c, dh, dc = _step_inputs(rows, hidden, torch.float32, seed=3)
    gates, tanh_c, h = torch.empty(rows, 4 * hidden), torch.empty(rows, hidden), torch.empty(rows, hidden)
    native_lstm.forward_step(z, cells[0], w_c, gates, cells[1], tanh_c, h)  # the right shapes pass
    with pytest.raises(ValueError, match="gates"):
        native_lstm.forward_step(z, cells[0], w_c, gates[:-1], cells[1], tanh_c, h)
    with pytest.raises(ValueError, match="z:"):
        native_lstm.forward_step(z.half(), cells[0], w_c, gates, cells[1], tanh_c, h)
    with pytest.raises(ValueError, match="w_c"):
        native_lstm.forward_step(z, cells[0], w_c[:2], gates, cells[1], tanh_c, h)
    with pytest.raises(ValueError, match="dz:"):
        native_lstm.backward_step(dh, dc, gates, cells[1], tanh_c, cells[0], w_c, torch.empty(rows, 3 * hidden),
                                  torch.zeros(3, hidden, dtype=torch.float64))
