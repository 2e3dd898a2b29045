"""Fast dense evaluation (`fastconv.py`, `DenseWindowNet._forward_polyphase`) against the direct F.conv2d path.

Tolerance: fast convolution (NNPACK's transformed tiles) and the direct conv differ by fp32 rounding only;
outputs are compared within 1e-5 of the largest |output|.
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nivalis.avalanche import fastconv
from nivalis.avalanche.dense import DenseWindowNet
from nivalis.avalanche.models import WindowCNN

REL = 1e-5


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = REL) -> None:
    assert a.shape == b.shape
    scale = max(float(b.abs().max()), 1e-6)
    assert float((a - b).abs().max()) <= rel * scale


@pytest.fixture
def force_fast(monkeypatch):
    """Every conv with a ≥ 3 × 3 kernel goes to the fast kernel, whatever its channels."""
    monkeypatch.setattr(fastconv, "MIN_KERNEL", 3)
    monkeypatch.setattr(fastconv, "MIN_CHANNEL_PAIRS", 1)


@pytest.mark.parametrize("size", [(8, 8), (13, 10), (37, 50), (61, 61)])
@pytest.mark.parametrize("g", [1, 2, 3, 4])
def test_phases_interleave_round_trip(size, g):
    x = torch.randn(2, 3, *size)
    parts = fastconv.phases(x, g)
    assert len(parts) == g * g and all(p.is_contiguous() for p in parts)
    assert torch.equal(fastconv.interleave(parts, g)[..., :size[0], :size[1]], x)


@pytest.mark.parametrize("size", [(8, 8), (13, 10), (37, 50)])
@pytest.mark.parametrize("g", [2, 3])
def test_phases_of_a_channels_last_map_stay_channels_last(size, g):
    x = torch.randn(2, 5, *size).contiguous(memory_format=torch.channels_last)
    parts = fastconv.phases(x, g)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in parts)
    assert torch.equal(fastconv.interleave(parts, g)[..., :size[0], :size[1]], x)


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("channels", [(7, 13), (23, 29), (32, 32)])
@pytest.mark.parametrize("size", [(9, 11), (30, 41), (64, 64)])
def test_conv2d_valid_matches_direct(force_fast, kernel, channels, size):
    torch.manual_seed(0)
    c_in, c_out = channels
    x = torch.randn(2, c_in, *size)
    w, b = torch.randn(c_out, c_in, kernel, kernel) * 0.2, torch.randn(c_out)
    with torch.inference_mode():
        _close(fastconv.conv2d_valid(x, w, b), F.conv2d(x, w, b))
        _close(fastconv.conv2d_valid(x, w, None), F.conv2d(x, w))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_conv1x1_matches_direct(layout):
    x, w, b = torch.randn(3, 17, 12, 9).contiguous(memory_format=layout), torch.randn(5, 17, 1, 1), torch.randn(5)
    with torch.inference_mode():
        _close(fastconv.conv2d_valid(x, w, b), F.conv2d(x, w, b))
        _close(fastconv.conv2d_valid(x, w, None), F.conv2d(x, w))


@pytest.mark.parametrize("dilation", [1, 2, 4])
@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("size", [(25, 25), (37, 50), (61, 58)])
def test_dilated_conv_on_polyphase_components(force_fast, dilation, kernel, size):
    """conv with dilation d = plain conv on each of the d² components x[..., a::d, b::d], interleaved."""
    torch.manual_seed(1)
    x = torch.randn(1, 11, *size)
    w, b = torch.randn(19, 11, kernel, kernel) * 0.2, torch.randn(19)
    with torch.inference_mode():
        ref = F.conv2d(x, w, b, dilation=dilation)
        parts = [fastconv.conv2d_valid(p, w, b) for p in fastconv.phases(x, dilation)]
        out = fastconv.interleave(parts, dilation)[..., :ref.shape[-2], :ref.shape[-1]]
    _close(out, ref)


def _window_cnn(window: int, channels: int, widths, hidden: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = WindowCNN(window, channels, 1, widths, hidden)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.mark.parametrize("config", [(33, 4, (16, 16, 32, 32), 32), (33, 3, (5, 7, 9, 11), 13),
                                    (21, 2, (6, 10), 7), (76, 1, (8, 8, 12, 12), 9)])
@pytest.mark.parametrize("extra", [(0, 0), (1, 6), (17, 30), (64, 47)])
def test_dense_net_fast_matches_direct(config, extra):
    window, channels, widths, hidden = config
    net = _window_cnn(window, channels, widths, hidden)
    dense = DenseWindowNet(net, window, channels).eval()
    assert dense.fast
    x = torch.randn(1, channels, window + extra[0], window + extra[1])
    with torch.inference_mode():
        dense.fast = False
        ref, ref_hidden = dense(x, hidden=True)
        dense.fast = True
        out, out_hidden = dense(x, hidden=True)
        assert torch.equal(dense(x), out)
    _close(out, ref)
    _close(out_hidden, ref_hidden)
    # the dense output's top-left (extra + 1)² block is the window-by-window output
    windows = x.unfold(2, window, 1).unfold(3, window, 1)[0].permute(1, 2, 0, 3, 4).reshape(-1, channels, window, window)
    with torch.inference_mode():
        per_window = net(windows).view(extra[0] + 1, extra[1] + 1)
    _close(out[0, 0, :extra[0] + 1, :extra[1] + 1], per_window, 1e-4)


@pytest.mark.parametrize("channels_last", [False, True])
def test_dense_net_fast_in_either_layout(monkeypatch, channels_last):
    """The fast path's direct convs on NHWC maps (`fastconv.CHANNELS_LAST`, the default) or NCHW give one map."""
    monkeypatch.setattr(fastconv, "CHANNELS_LAST", channels_last)
    net = _window_cnn(33, 4, (16, 16, 32, 32), 32, seed=5)
    dense = DenseWindowNet(net, 33, 4).eval()
    x = torch.randn(1, 4, 33 + 45, 33 + 38)
    with torch.inference_mode():
        dense.fast = False
        ref, ref_hidden = dense(x, hidden=True)
        dense.fast = True
        out, out_hidden = dense(x, hidden=True)
    _close(out, ref)
    _close(out_hidden, ref_hidden)


def test_dense_net_fast_with_forced_fast_kernels(force_fast):
    net = _window_cnn(33, 3, (5, 7, 9, 11), 13, seed=3)
    dense = DenseWindowNet(net, 33, 3).eval()
    x = torch.randn(1, 3, 33 + 23, 33 + 40)
    with torch.no_grad():
        dense.fast = False
        ref = dense(x)
        dense.fast = True
        out = dense(x)
    _close(out, ref)


def test_fast_path_only_in_no_grad_eval(monkeypatch):
    net = _window_cnn(33, 4, (16, 16, 32, 32), 32)
    dense = DenseWindowNet(net, 33, 4).eval()
    calls = []
    monkeypatch.setattr(DenseWindowNet, "_forward_polyphase", lambda self, x, hidden: calls.append(1) or x)
    x = torch.randn(1, 4, 40, 40)
    dense(x)  # grad enabled: direct
    with torch.no_grad():
        dense.train()
        dense(x)  # training mode: direct
        dense.eval()
        dense.fast = False
        dense(x)  # turned off: direct
        dense.fast = True
        dense(x)  # fast
    assert calls == [1]


def test_freed_pages_are_kept_for_the_next_tile():
    """On glibc, within `freed_pages_kept` a freed tile-sized map is reused, not faulted in again; after it the pages
    go back to the kernel and glibc's thresholds are back, so the same fills fault their pages in again."""
    import platform
    import resource

    from nivalis.avalanche.fastconv import freed_pages_kept

    def fill_and_free() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            a = torch.empty(16, 512, 1024)  # 32 MiB, above glibc's largest dynamic mmap threshold
            a.fill_(1.0)
            del a
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    with freed_pages_kept() as kept:
        with freed_pages_kept() as inner:  # nested (a map inside a map): the outer one decides
            assert inner is kept
        faults = [fill_and_free() for _ in range(3)]
    if platform.libc_ver()[0] != "glibc":
        return
    assert kept
    # unmapped on free, each of the 5 maps would fault its 8,192 pages in again on every round (~41,000)
    assert faults[-1] < 1000, faults
    assert fill_and_free() > 4000  # released: every 32 MiB map is mapped afresh again



def test_bf16_autocast_runs_the_components_undilated(monkeypatch):
    """Under CPU autocast the fast path still splits the map (no dilated bf16 conv, which unfolds the whole tile);
    its map is the direct bf16 one's within bf16 rounding and the fp32 one's within bf16's precision."""
    net = _window_cnn(33, 3, (16, 16, 32, 32), 32, seed=7)
    dense = DenseWindowNet(net, 33, 3).eval()
    x = torch.randn(1, 3, 33 + 40, 33 + 29)
    dilations = []
    conv2d = F.conv2d
    monkeypatch.setattr(F, "conv2d", lambda inp, w, *a, **k: dilations.append(k.get("dilation", a[3] if len(a) > 3
                                                                                   else 1)) or conv2d(inp, w, *a, **k))
    with torch.inference_mode():
        fp32 = dense(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            dilations.clear()
            fast = dense(x)
            assert fast.dtype == torch.bfloat16 and all(d in (1, (1, 1)) for d in dilations) and dilations
            dense.fast = False
            direct = dense(x)
    p_fast, p_direct, p32 = (torch.sigmoid(t.float()) for t in (fast, direct, fp32))
    assert float((p_fast - p_direct).abs().max()) < 0.02
    assert float((p_fast - p32).abs().max()) < 0.02
