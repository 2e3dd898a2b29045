"""The three regressors of seed 000: shapes, exact parameter counts, GCN dense vs PyG sparse, the LSTM's fused
CPU path vs nn.LSTM's kernel."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GCNConv
from torch_geometric.utils import dense_to_sparse

from nivalis.errors import UserError
from nivalis.snow.config import SnowConfig
from nivalis.snow.models import GCNRegressor, LSTMRegressor, create_snow_model, snow_model_kwargs

HEAD = 64 * 32 + 32 + 32 * 5 + 5          # FC 64→32, FC 32→5 (§IV-C)
EXPECTED = {
    # GConvLSTM(3→64, K=2): 4 gates × (x: 2·3·64 + 64, h: 2·64·64 + 64) + 3 peepholes + 4 biases of 64
    "gcn_lstm": 4 * (2 * 3 * 64 + 64 + 2 * 64 * 64 + 64) + 3 * 64 + 4 * 64 + HEAD,
    "gcn": (2 + 10) * 64 + 64 + HEAD,      # one GCN layer on 12 node features
    "lstm": 4 * 64 * (3 + 64) + 2 * 4 * 64 + HEAD,
}


@pytest.mark.parametrize("name", ["gcn_lstm", "gcn", "lstm"])
def test_shapes_and_exact_parameter_counts(name):
    model = create_snow_model(name, **snow_model_kwargs(name, SnowConfig(), in_features=3, n_static=2))
    assert sum(p.numel() for p in model.parameters()) == EXPECTED[name]
    x, adj = torch.randn(2, 10, 256, 3), torch.rand(2, 256, 256)
    model.head.set_target_scale([10.0] * 5, [2.0] * 5)
    model.eval()
    out = model(x, adj)
    assert out.shape == (2, 256, 5) and torch.isfinite(out).all()
    assert 0 < float(out.detach().mean()) < 20             # the output lives at the training targets' scale


def test_graph_models_use_the_graph_and_lstm_does_not():
    torch.manual_seed(0)
    x, adj = torch.randn(1, 10, 32, 3), torch.rand(1, 32, 32)
    adj = (adj + adj.transpose(1, 2)) / 2
    other = adj.flip(-1).flip(-2) * 0.3
    for name in ("gcn_lstm", "gcn", "lstm"):
        model = create_snow_model(name, **snow_model_kwargs(name, SnowConfig(columns=32), 3, 2)).eval()
        changed = not torch.allclose(model(x, adj), model(x, other))
        assert changed == (name != "lstm"), name


def test_dense_gcn_equals_pyg_gcnconv():
    torch.manual_seed(0)
    model = GCNRegressor(in_features=3, n_static=2, steps=10).double().eval()
    n = 20
    adj = torch.rand(n, n, dtype=torch.float64)
    adj = (adj + adj.T) / 2
    adj.fill_diagonal_(0)
    x = torch.randn(1, 10, n, 3, dtype=torch.float64)
    nodes = model.node_features(x)[0]
    assert nodes.shape == (n, 12)
    torch.testing.assert_close(nodes[:, :2], x[0, 0, :, :2])
    torch.testing.assert_close(nodes[:, 2:], x[0, :, :, 2].T)
    sparse = GCNConv(12, 64).double()
    sparse.lin.weight.data.copy_(model.conv.lin.weight)
    sparse.bias.data.copy_(model.conv.bias)
    edge_index, edge_weight = dense_to_sparse(adj)
    torch.testing.assert_close(model.conv(nodes[None], adj[None])[0], sparse(nodes, edge_index, edge_weight))


def test_learnable_adjacency_starts_at_the_haversine_graph_and_trains():
    cfg = SnowConfig(columns=16, learnable_adjacency=True)
    plain = create_snow_model("gcn_lstm", **snow_model_kwargs("gcn_lstm", SnowConfig(columns=16), 3, 2))
    learn = create_snow_model("gcn_lstm", **snow_model_kwargs("gcn_lstm", cfg, 3, 2))
    assert sum(p.numel() for p in learn.parameters()) - sum(p.numel() for p in plain.parameters()) == 16 * 16
    learn.load_state_dict({**plain.state_dict(), "adjacency.edge_logits": torch.zeros(16, 16)})
    x, adj = torch.randn(2, 10, 16, 3), torch.rand(2, 16, 16)
    plain.eval(), learn.eval()
    torch.testing.assert_close(plain(x, adj), learn(x, adj))
    learn(x, adj).sum().backward()
    assert learn.adjacency.edge_logits.grad.abs().sum() > 0
    with pytest.raises(UserError, match="no graph"):
        create_snow_model("lstm", **snow_model_kwargs("lstm", cfg, 3, 2))


def test_lstm_fused_cpu_path_equals_torch_lstm_kernel():
    """On the CPU the LSTM baseline runs nn.LSTM's own weights through the fused recurrence: same function,
    same gradients (float64), and under bf16 autocast within bf16 rounding of the kernel's float32 result (the
    kernel itself has no bf16 LSTM on CPUs without AVX-512 BF16, where oneDNN refuses the primitive)."""
    torch.manual_seed(0)
    model = LSTMRegressor(3, hidden=8, fc_hidden=4).double().eval()
    x = torch.randn(2, 5, 7, 3, dtype=torch.float64)
    results = []
    for fused in (True, False):
        model.fused = fused
        model.zero_grad()
        out = model(x)
        out.sin().sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    model = LSTMRegressor(3).eval()
    x = torch.randn(2, 10, 64, 3)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model.fused = True
            fused = model(x)
        model.fused = False
        kernel = model(x)
    assert fused.dtype == torch.float32
    assert (fused - kernel.float()).abs().max() < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["gcn_lstm", "gcn", "lstm"])
def test_cuda_path_equals_cpu_path(name):
    """Two implementations of one model: on the CPU the recurrence is the fused autograd node (its cell
    compiled where a compiler is found), on a GPU GConvLSTM's op-by-op path and cuDNN's LSTM. Same weights,
    same batch → same outputs and weight gradients (float32, TF32 off), and bf16 autocast runs on the GPU."""
    torch.manual_seed(0)
    cfg = SnowConfig(columns=64, dropout=0.0)  # train mode (cuDNN's LSTM backward needs it), no dropout
    cpu = create_snow_model(name, **snow_model_kwargs(name, cfg, 3, 2))
    gpu = create_snow_model(name, **snow_model_kwargs(name, cfg, 3, 2))
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x, adj = torch.randn(4, 10, 64, 3), torch.rand(4, 64, 64)
    adj = (adj + adj.transpose(1, 2)) / 2
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        outs = []
        for model, dev in ((cpu, "cpu"), (gpu, "cuda")):
            out = model(x.to(dev), adj.to(dev))
            out.sin().sum().backward()
            outs.append((out.detach().cpu(), {k: p.grad.cpu() for k, p in model.named_parameters()}))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-4, atol=1e-4)
    for key, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][key], grad, rtol=1e-3, atol=1e-4, msg=key)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        low = gpu(x.cuda(), adj.cuda()).float().cpu()
    assert (low - outs[0][0]).abs().max() < 0.1 * outs[0][0].abs().max()
