"""The compiled LSTM cell (`native_lstm`) against the same equations op by op in PyTorch: one step forward and
backward (bf16 and float32, rows with a stride), whole recurrences with their gradients; and how it is kept
opt-in and safe: off (no compiler looked for) without NIVALIS_NATIVE=1, built only into a private cache folder
(0700, this user's; others refused with one line), loaded only when its bytes match the sha256 recorded at build
time, rebuilt when they do not, and a clear error where it was asked for and cannot be had."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
import torch

from nivalis.errors import UserError
from nivalis.layers import fused_lstm, native_lstm
from nivalis.layers.fused_lstm import lstm_recurrence
from nivalis.layers.graph_conv_lstm import GConvLSTM, scaled_laplacian

needs_compiler = pytest.mark.skipif(native_lstm._compiler() is None, reason="no C compiler on this machine")


def _fresh_state(enabled: bool | None = True) -> dict:
    return {"lib": None, "tried": False, "enabled": enabled, "error": None}


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """NIVALIS_NATIVE=1 in a process state that has not tried to build the library yet; cache in tmp_path/cache."""
    monkeypatch.setattr(native_lstm, "_state", _fresh_state())
    monkeypatch.setenv("NIVALIS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NIVALIS_NATIVE_MARCH", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def _built(tmp_path_factory):
    """The library built once for this module's numeric tests, in a private cache of its own."""
    if native_lstm._compiler() is None:
        pytest.skip("no C compiler on this machine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(native_lstm, "_state", _fresh_state())
        mp.setenv("NIVALIS_CACHE", str(tmp_path_factory.mktemp("native_cache")))
        mp.delenv("NIVALIS_NATIVE_MARCH", raising=False)
        return native_lstm.library()


@pytest.fixture
def cell_on(_built, monkeypatch):
    """NIVALIS_NATIVE=1 with the module's library loaded."""
    monkeypatch.setattr(native_lstm, "_state", {**_fresh_state(), "lib": _built, "tried": True})


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


@pytest.mark.parametrize("low", [torch.float32, torch.bfloat16])
def test_one_step_equals_pytorch_cell(low, cell_on):
    """Forward: gates, C, tanh C, H. Backward: dZ, dC_{t-1} and the peephole gradients."""
    rows, hidden = 300, 24
    z, cells, w_c, dh, dc = _step_inputs(rows, hidden, low, seed=1)
    got_cells, want_cells = cells.clone(), cells.clone()
    got_g, want_g = torch.empty(rows, 4, hidden), torch.empty(rows, 4, hidden)
    got_tc, want_tc = torch.empty(rows, hidden), torch.empty(rows, hidden)
    got_h, want_h = torch.empty(rows, hidden + 3, dtype=low)[:, :hidden], torch.empty(rows, hidden, dtype=low)
    native_lstm.forward_step(z, got_cells[0], w_c, got_g.view(rows, -1), got_cells[1], got_tc, got_h)
    fused_lstm._cell_forward(z, want_g, want_cells, want_tc, 1, w_c, want_h)
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
    fused_lstm._cell_backward(dh.float(), want_dc, want_g, want_cells, want_tc, 1, w_c, da, tmp, peep_rows)
    torch.testing.assert_close(got_dc, want_dc, rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(got_dz.float(), da.view(rows, -1).to(low).float(),
                               rtol=1e-2 if low == torch.bfloat16 else 2e-5, atol=2e-6)
    torch.testing.assert_close(peep, peep_rows.sum(0).double(), rtol=1e-4, atol=1e-4)
    assert peep.abs().sum() > 0


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("peephole", [True, False])
def test_recurrence_compiled_equals_pytorch_values_and_gradients(k, peephole, cell_on):
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


def test_two_rows_without_peepholes(cell_on):
    """Fewer rows than peephole vectors: the zero peepholes are their own buffer, not a slice of the rows."""
    torch.manual_seed(2)
    args = [torch.randn(4, 2, 3), torch.randn(3, 20), torch.randn(20), torch.randn(5, 20)]
    outs = [lstm_recurrence(*args, compiled=compiled) for compiled in (True, False)]
    for got, want in zip(*outs):
        torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)


def test_gconvlstm_bf16_autocast_compiled_equals_pytorch_cell(cell_on):
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
def test_built_once_into_a_private_cache_then_reused_after_its_hash_is_checked(fresh, monkeypatch):
    assert native_lstm.available()
    folder = fresh / "native"
    for path in (fresh, folder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700 and path.stat().st_uid == os.getuid()
    built = sorted(folder.iterdir())
    assert [p.suffix for p in built] == [".so", ".sha256"]              # no temp file left beside them
    lib, record = built
    assert record.name == lib.name + ".sha256"
    assert record.read_text().strip() == native_lstm._sha256(lib)
    stamp = lib.stat().st_mtime_ns
    monkeypatch.setattr(native_lstm, "_state", _fresh_state())

    def no_compiler(*args, **kwargs):
        raise AssertionError("the cached library should have been reused")

    monkeypatch.setattr(native_lstm.subprocess, "run", no_compiler)
    assert native_lstm.available()
    assert sorted(folder.iterdir()) == built and lib.stat().st_mtime_ns == stamp


_real_bind = native_lstm._bind


@needs_compiler
@pytest.mark.parametrize("tamper", ["bytes", "record", "no_record"])
def test_a_library_that_does_not_match_its_recorded_hash_is_rebuilt_not_loaded(fresh, monkeypatch, tamper):
    assert native_lstm.available()
    lib = next((fresh / "native").glob("*.so"))
    record = lib.with_name(lib.name + ".sha256")
    if tamper == "bytes":  # a planted or damaged library (a new file: this process has the old one mapped)
        planted = lib.with_name("planted")
        planted.write_bytes(lib.read_bytes() + b"planted")
        os.replace(planted, lib)
    elif tamper == "record":
        record.write_text("0" * 64 + "\n")
    else:
        record.unlink()
    monkeypatch.setattr(native_lstm, "_state", _fresh_state())
    loaded = []
    monkeypatch.setattr(native_lstm, "_bind", lambda path: loaded.append(native_lstm._sha256(path)) or _real_bind(path))
    runs = []
    real_run = subprocess.run
    monkeypatch.setattr(native_lstm.subprocess, "run", lambda *a, **k: runs.append(a) or real_run(*a, **k))
    assert native_lstm.available()
    assert len(runs) == 1                                               # rebuilt
    assert loaded == [record.read_text().strip()] == [native_lstm._sha256(lib)]


def test_the_library_name_depends_on_source_flags_and_compiler_and_march_is_opt_in(fresh, monkeypatch, tmp_path):
    cc = tmp_path / "cc"
    cc.write_text("#!/bin/sh\nexit 1\n")
    key = native_lstm._build_key(str(cc), native_lstm._flags())
    assert "-march=native" not in native_lstm._flags()
    monkeypatch.setenv("NIVALIS_NATIVE_MARCH", "native")
    assert "-march=native" in native_lstm._flags()
    assert native_lstm._build_key(str(cc), native_lstm._flags()) != key
    monkeypatch.setenv("NIVALIS_NATIVE_MARCH", "native -o /tmp/x")
    with pytest.raises(UserError, match="NIVALIS_NATIVE_MARCH"):
        native_lstm._flags()
    monkeypatch.delenv("NIVALIS_NATIVE_MARCH")
    cc.write_text("#!/bin/sh\nexit 2\n")                                # another compiler build
    assert native_lstm._build_key(str(cc), native_lstm._flags()) != key
    other_compiler = native_lstm._build_key(str(cc), native_lstm._flags())
    assert other_compiler != key
    source = tmp_path / "lstm_cell.c"
    source.write_text(native_lstm.SOURCE.read_text() + "\n")
    monkeypatch.setattr(native_lstm, "SOURCE", source)
    assert native_lstm._build_key(str(cc), native_lstm._flags()) != other_compiler


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
@pytest.mark.parametrize("which", ["root", "native"])
def test_a_cache_folder_others_can_write_is_refused_with_one_line(fresh, monkeypatch, mode, which):
    folder = fresh if which == "root" else fresh / "native"
    folder.mkdir(parents=True)
    folder.chmod(mode)
    monkeypatch.setattr(native_lstm, "_compiler", lambda: "/usr/bin/cc")
    monkeypatch.setattr(native_lstm.subprocess, "run", lambda *a, **k: pytest.fail("built in an unsafe folder"))
    with pytest.raises(UserError, match=f"refusing the native cache folder .*mode {mode:04o}") as info:
        native_lstm.available()
    assert "\n" not in str(info.value) and "NIVALIS_NATIVE" in str(info.value)
    with pytest.raises(UserError, match="refusing"):                   # the same answer on every call
        native_lstm.library()
    assert not list(folder.rglob("*.so"))


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_a_cache_folder_of_another_user_is_refused(fresh, monkeypatch):
    fresh.mkdir(mode=0o700)
    os.chown(fresh, 12345, -1)
    monkeypatch.setattr(native_lstm, "_compiler", lambda: "/usr/bin/cc")
    with pytest.raises(UserError, match="owned by uid 12345"):
        native_lstm.available()


def test_a_cache_path_that_is_a_file_is_refused(fresh, monkeypatch):
    fresh.write_text("not a folder")
    monkeypatch.setattr(native_lstm, "_compiler", lambda: "/usr/bin/cc")
    with pytest.raises(UserError, match="not a folder"):
        native_lstm.available()


@needs_compiler
@pytest.mark.parametrize("context", ["no_grad", "inference_mode"])
def test_first_use_under_no_grad_still_loads_the_library(fresh, context):
    # `nivalis snow predict` reaches the cell first inside inference mode: the self-test's backward must not
    # fail there and wrongly reject the library
    with getattr(torch, context)():
        assert native_lstm.available()
        assert torch.is_inference_mode_enabled() == (context == "inference_mode")
        assert not torch.is_grad_enabled()


@needs_compiler
def test_a_library_that_computes_wrong_numbers_is_rejected(fresh, monkeypatch, tmp_path):
    """The self-test against PyTorch: a kernel with the output gate's derivative sign-flipped never runs."""
    source = native_lstm.SOURCE.read_text()
    wrong = source.replace("o * (1.0f - o)", "o * (1.0f + o)")
    assert wrong != source
    path = tmp_path / "lstm_cell.c"
    path.write_text(wrong)
    monkeypatch.setattr(native_lstm, "SOURCE", path)
    with pytest.raises(UserError, match="self-test: dZ"):
        native_lstm.library()


def test_a_compiler_that_fails_is_one_clear_error(fresh, monkeypatch):
    monkeypatch.setenv("CC", "false")                                    # a "compiler" that always fails
    with pytest.raises(UserError, match="false failed") as info:
        native_lstm.available()
    assert "\n" not in str(info.value)
    assert not list((fresh / "native").iterdir())                       # its temp output was removed


def test_nan_stays_nan_in_bf16(cell_on):
    """A NaN in the gates propagates to H as NaN, as in PyTorch: not clamped to a finite value by the exp's range
    limits, not rounded to an infinity by the bf16 conversion; the other rows stay finite."""
    rows, hidden = 4, 8
    z, cells, w_c, _, _ = _step_inputs(rows, hidden, torch.bfloat16, seed=4)
    z[1, 3] = float("nan")
    gates, tanh_c = torch.empty(rows, 4 * hidden), torch.empty(rows, hidden)
    h = torch.empty(rows, hidden, dtype=torch.bfloat16)
    native_lstm.forward_step(z, cells[0], w_c, gates, cells[1], tanh_c, h)
    assert torch.isnan(h[1, 3]) and torch.isfinite(h[0]).all() and not torch.isinf(h).any()


def test_asked_for_without_a_compiler_is_one_clear_error(fresh, monkeypatch):
    monkeypatch.setattr(native_lstm, "_compiler", lambda: None)
    with pytest.raises(UserError, match="no C compiler .* unset NIVALIS_NATIVE"):
        native_lstm.available()
    with pytest.raises(UserError, match="no C compiler"):               # from a training step too
        lstm_recurrence(torch.randn(3, 4, 2), torch.randn(2, 8), torch.randn(8), torch.randn(2, 8))


def test_off_by_default_pytorch_cell_and_no_compiler_looked_for(monkeypatch):
    monkeypatch.delenv("NIVALIS_NATIVE", raising=False)
    monkeypatch.setattr(native_lstm, "_state", _fresh_state(None))

    def looked_for(*args, **kwargs):
        raise AssertionError("a compiler was looked for without NIVALIS_NATIVE=1")

    monkeypatch.setattr(native_lstm, "_compiler", looked_for)
    monkeypatch.setattr(native_lstm.shutil, "which", looked_for)
    monkeypatch.setattr(native_lstm.subprocess, "run", looked_for)
    assert not native_lstm.enabled() and not native_lstm.available()
    torch.manual_seed(0)
    cell = GConvLSTM(2, 8, K=2)
    lap = scaled_laplacian(_graph(10, 1))
    h, _ = cell(torch.randn(2, 4, 10, 2), lap)
    h.sum().backward()                                                 # trains through the PyTorch cell
    assert all(p.grad is not None for p in cell.parameters())
    with pytest.raises(ValueError, match="compiled LSTM cell cannot run"):
        lstm_recurrence(torch.randn(3, 4, 2), torch.randn(2, 8), torch.randn(8), torch.randn(2, 8), compiled=True)


@pytest.mark.parametrize(("value", "on"), [("0", False), ("", False), ("1", True), ("yes", None)])
def test_nivalis_native_values(monkeypatch, value, on):
    monkeypatch.setenv("NIVALIS_NATIVE", value)
    monkeypatch.setattr(native_lstm, "_state", _fresh_state(None))
    if on is None:
        with pytest.raises(UserError, match="NIVALIS_NATIVE='yes'"):
            native_lstm.enabled()
    else:
        assert native_lstm.enabled() is on


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


def test_wrong_shapes_and_dtypes_are_refused_before_the_c_code_runs(cell_on):
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
