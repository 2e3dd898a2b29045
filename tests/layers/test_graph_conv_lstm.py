"""GConvLSTM: the dense batched path equals PyG's per-graph ChebConv path, the fused recurrence equals the op-by-op
one (values and every gradient), and K = 1 is a plain LSTM."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import ChebConv
from torch_geometric.utils import dense_to_sparse, to_dense_adj

from nivalis.layers import fused_lstm
from nivalis.layers.fused_lstm import lstm_recurrence
from nivalis.layers.graph_conv_lstm import GConvLSTM, chebyshev_basis, scaled_laplacian


def _graph(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, n, generator=g, dtype=torch.float64)
    a = (a + a.T) / 2
    a.fill_diagonal_(0)
    a[0, 1] = a[1, 0] = 0.0  # a missing edge, as min-max normalisation makes the weakest edge 0
    return a


def test_scaled_laplacian_matches_chebconv_normalisation():
    a = _graph(9, 0)
    edge_index, edge_weight = dense_to_sparse(a)
    conv = ChebConv(1, 1, K=2)
    ei, w = conv.__norm__(edge_index, 9, edge_weight, "sym", lambda_max=2.0, dtype=a.dtype)
    expected = to_dense_adj(ei, edge_attr=w, max_num_nodes=9)[0]
    torch.testing.assert_close(scaled_laplacian(a), expected)
    x = torch.randn(9, 4, dtype=a.dtype)
    basis = chebyshev_basis(scaled_laplacian(a), x, 3)
    torch.testing.assert_close(basis[:, 8:], 2 * expected @ (expected @ x) - x)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("peephole", [True, False])
def test_dense_batched_equals_pyg_sparse_per_graph(k, peephole):
    torch.manual_seed(k)
    nodes, steps, feats, hidden = 11, 4, 3, 6
    cell = GConvLSTM(feats, hidden, K=k, peephole=peephole).double()
    graphs = [_graph(nodes, s) for s in range(3)]
    x = torch.randn(3, steps, nodes, feats, dtype=torch.float64)
    lap = torch.stack([scaled_laplacian(a) for a in graphs])
    h_dense, c_dense = cell(x, lap)
    seq, _ = cell(x, lap, return_sequence=True)
    torch.testing.assert_close(seq[:, -1], h_dense)
    for b, a in enumerate(graphs):
        edge_index, edge_weight = dense_to_sparse(a)
        h_sparse, c_sparse = cell.forward_sparse(x[b], edge_index, edge_weight)
        torch.testing.assert_close(h_dense[b], h_sparse, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(c_dense[b], c_sparse, rtol=1e-12, atol=1e-12)


def test_gradients_of_both_paths_agree():
    torch.manual_seed(0)
    cell = GConvLSTM(2, 4, K=2).double()
    a = _graph(7, 5)
    x = torch.randn(1, 3, 7, 2, dtype=torch.float64)
    cell(x, scaled_laplacian(a)[None])[0].sum().backward()
    dense = [p.grad.clone() for p in cell.parameters()]
    cell.zero_grad()
    edge_index, edge_weight = dense_to_sparse(a)
    cell.forward_sparse(x[0], edge_index, edge_weight)[0].sum().backward()
    for g_dense, p in zip(dense, cell.parameters()):
        torch.testing.assert_close(g_dense, p.grad)


def test_k1_without_peephole_is_torch_lstm():
    """With K = 1 the graph convolution is a per-node linear map: the cell is nn.LSTM (gates i, f, g, o)."""
    torch.manual_seed(1)
    feats, hidden = 3, 5
    cell = GConvLSTM(feats, hidden, K=1, peephole=False)
    with torch.no_grad():
        cell.b.normal_()
        for conv in (*cell.conv_x, *cell.conv_h):
            conv.bias.normal_()
    lstm = torch.nn.LSTM(feats, hidden, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.cat([c.lins[0].weight for c in cell.conv_x]))
        lstm.weight_hh_l0.copy_(torch.cat([c.lins[0].weight for c in cell.conv_h]))
        lstm.bias_ih_l0.copy_(torch.cat([c.bias for c in cell.conv_x]))
        lstm.bias_hh_l0.copy_(torch.cat([c.bias for c in cell.conv_h]) + cell.b.reshape(-1))
    x = torch.randn(2, 6, 8, feats)                                  # [B, T, N, F]
    h, c = cell(x, torch.zeros(8, 8))
    _, (h_ref, c_ref) = lstm(x.permute(0, 2, 1, 3).reshape(16, 6, feats))
    torch.testing.assert_close(h, h_ref[0].reshape(2, 8, hidden), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c, c_ref[0].reshape(2, 8, hidden), rtol=1e-5, atol=1e-6)


def test_bf16_autocast_stays_close_with_float32_state_and_grads():
    torch.manual_seed(2)
    cell = GConvLSTM(3, 16, K=2)
    a = _graph(32, 1).float()
    x = torch.randn(4, 5, 32, 3)
    ref, _ = cell(x, scaled_laplacian(a))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, _ = cell(x, scaled_laplacian(a))
    assert low.dtype == torch.float32                                 # gates and cell state stay float32
    assert 0 < (low - ref).abs().max() < 0.05                         # the matmuls did run in bf16
    low.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in cell.parameters())


def test_parameter_count():
    cell = GConvLSTM(3, 64, K=2)
    # 4 gates × (ChebConv x: K·F·C + C, ChebConv h: K·C·C + C) + 3 peephole vectors + 4 gate biases
    assert sum(p.numel() for p in cell.parameters()) == 4 * (2 * 3 * 64 + 64 + 2 * 64 * 64 + 64) + 3 * 64 + 4 * 64


def _run(cell: GConvLSTM, x: torch.Tensor, adjacency: torch.Tensor, fused: bool):
    """Values and gradients (parameters, adjacency) of a loss that uses both H_T and C_T."""
    cell.fused = fused
    cell.zero_grad()
    adjacency.grad = None
    h, c = cell(x, scaled_laplacian(adjacency))
    (h.sin().sum() + (0.3 * c).cos().sum()).backward()
    grad_a = adjacency.grad if adjacency.grad is not None else torch.zeros_like(adjacency)
    return h.detach(), c.detach(), [p.grad.clone() for p in cell.parameters()], grad_a.clone()


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("peephole", [True, False])
def test_fused_recurrence_equals_op_by_op_values_and_gradients(k, peephole):
    """The hand-written backward agrees with autograd's record of the same equations to float64 precision,
    the Laplacian's gradient included (what a learnable adjacency trains through)."""
    torch.manual_seed(10 + k)
    cell = GConvLSTM(3, 6, K=k, peephole=peephole).double()
    with torch.no_grad():
        cell.b.normal_()
    adjacency = torch.stack([_graph(9, s) for s in range(2)]).requires_grad_(True)
    x = torch.randn(2, 5, 9, 3, dtype=torch.float64)
    fused, recorded = _run(cell, x, adjacency, True), _run(cell, x, adjacency, False)
    for a, b in zip(fused[:2], recorded[:2]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(fused[2], recorded[2]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused[3], recorded[3], rtol=1e-10, atol=1e-12)
    assert fused[3].abs().sum() > 0 if k > 1 else fused[3].abs().sum() == 0


def test_fused_recurrence_passes_gradcheck():
    """Finite differences against the hand-written backward, every input: basis, weights, peepholes, Laplacian."""
    torch.manual_seed(3)
    steps, batch, nodes, feats, hidden, k = 3, 2, 4, 2, 3, 3
    lap = scaled_laplacian(torch.stack([_graph(nodes, s) for s in range(batch)])).requires_grad_(True)
    args = [torch.randn(steps, batch * nodes, k * feats, dtype=torch.float64),
            torch.randn(k * feats, 4 * hidden, dtype=torch.float64) * 0.5,
            torch.randn(4 * hidden, dtype=torch.float64),
            torch.randn(k * hidden, 4 * hidden, dtype=torch.float64) * 0.5,
            torch.randn(3, hidden, dtype=torch.float64)]
    for a in args:
        a.requires_grad_(True)

    def fn(x_basis, w_x, bias, w_h, w_c, laplacian):
        return lstm_recurrence(x_basis, w_x, bias, w_h, w_c, laplacian, k=k, batch=batch)

    assert torch.autograd.gradcheck(fn, (*args, lap))


def test_fused_bf16_autocast_matches_op_by_op_bf16():
    torch.manual_seed(4)
    cell = GConvLSTM(3, 16, K=2)
    lap = scaled_laplacian(_graph(32, 2).float())
    x = torch.randn(4, 6, 32, 3)
    out = {}
    for fused in (True, False):
        cell.fused = fused
        cell.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h, _ = cell(x, lap)
        h.sum().backward()
        out[fused] = (h.detach(), [p.grad.clone() for p in cell.parameters()])
    assert out[True][0].dtype == torch.float32
    assert (out[True][0] - out[False][0]).abs().max() < 0.02           # same bf16 matmuls, float32 gates
    for a, b in zip(out[True][1], out[False][1]):
        assert a.dtype == torch.float32
        assert (a - b).norm() <= 0.05 * b.norm() + 1e-6


def test_fused_recurrence_buffers_are_reused_only_when_free():
    """Pooled buffers: a graph kept with retain_graph still backpropagates right after other forwards ran."""
    cell = GConvLSTM(2, 4, K=2)
    lap = scaled_laplacian(_graph(6, 0).float())
    x = torch.randn(2, 3, 6, 2)
    kept = cell(x, lap)[0].sum()
    kept.backward(retain_graph=True)
    first = [p.grad.clone() for p in cell.parameters()]
    cell.zero_grad()
    cell(2 * x, lap)[0].sum().backward()                              # may reuse only buffers nobody holds
    cell(x, lap)
    cell.zero_grad()
    kept.backward()
    for a, p in zip(first, cell.parameters()):
        torch.testing.assert_close(a, p.grad)
    with torch.no_grad():
        torch.testing.assert_close(cell(x, lap)[0], cell(x, lap)[0])


def test_workspace_hands_a_buffer_to_one_owner_until_given_back():
    ws, cpu, shape = fused_lstm._Workspace(), torch.device("cpu"), (7, 3)
    a = ws.take(shape, torch.float32, cpu)
    b = ws.take(shape, torch.float32, cpu)
    assert a is not b
    del b                                                             # dropped, not given back: never reused
    assert ws.take(shape, torch.float32, cpu) is not a
    ws.give_back(a)
    assert ws.take(shape, torch.float32, cpu) is a                    # given back: reused, no new allocation
    assert ws.take(shape, torch.float32, cpu) is not a                # and handed out once
    ws.give_back(*(torch.empty(shape) for _ in range(10)))
    assert len(ws._free[(shape, torch.float32, False)]) == ws.limit   # bounded


def test_saved_buffers_come_back_only_when_their_node_is_freed():
    """The buffers a recurrence saves for its backward are not handed out while its graph can still use them."""
    ws = fused_lstm._WORKSPACE
    torch.manual_seed(3)
    steps, batch, nodes, hidden = 3, 2, 5, 4
    args = [torch.randn(steps, batch * nodes, 2), torch.randn(2, 4 * hidden), torch.randn(4 * hidden),
            torch.randn(hidden, 4 * hidden)]
    gate_key = ((steps, batch * nodes, 4, hidden), torch.float32, False)
    ws._free.pop(gate_key, None)
    leaf = args[0].requires_grad_()
    h, _ = lstm_recurrence(*args, compiled=False)
    assert not ws._free.get(gate_key)                                 # saved by the graph: not free
    h.sum().backward(retain_graph=True)
    assert not ws._free.get(gate_key)                                 # the graph may run backward again
    grad = leaf.grad.clone()
    lstm_recurrence(leaf.detach() * 3, *args[1:], compiled=False)      # would take them if they were free
    leaf.grad = None
    h.sum().backward()
    torch.testing.assert_close(leaf.grad, grad)
    del h
    assert len(ws._free.get(gate_key, [])) >= 1                       # graph gone: back for the next step
    with torch.no_grad():                                            # nothing saved: back at once
        ws._free.pop(gate_key, None)
        lstm_recurrence(*args, compiled=False)
        assert len(ws._free[gate_key]) == 1


def test_workspace_keeps_inference_mode_buffers_apart():
    """Tensors made under inference_mode refuse in-place updates outside it: never hand one to a training step."""
    ws, cpu, shape = fused_lstm._Workspace(), torch.device("cpu"), (5, 11)
    with torch.inference_mode():
        ws.give_back(ws.take(shape, torch.float32, cpu))
    buf = ws.take(shape, torch.float32, cpu)
    assert not buf.is_inference()
    buf.add_(1)
