r"""Graph convolutional LSTM (Seo et al. 2017, GConvLSTM) with Chebyshev filters, dense-batched and per-graph.

The cell of "Structured Sequence Modeling with Graph Convolutional Recurrent Networks" (Seo, Defferrard,
Vandergheynst & Bresson, ICLR 2017 workshop, model 2), in the form of PyTorch Geometric Temporal's
`GConvLSTM` that seed 000 (Zalatan & Rahnemoonfar) cites as its GCN-LSTM:

.. math::
    \mathbf{I}_t &= \sigma(\mathbf{W}_{xi} \ast_\mathcal{G} \mathbf{X}_t + \mathbf{W}_{hi} \ast_\mathcal{G}
        \mathbf{H}_{t-1} + \mathbf{w}_{ci} \odot \mathbf{C}_{t-1} + \mathbf{b}_i) \\
    \mathbf{F}_t &= \sigma(\mathbf{W}_{xf} \ast_\mathcal{G} \mathbf{X}_t + \mathbf{W}_{hf} \ast_\mathcal{G}
        \mathbf{H}_{t-1} + \mathbf{w}_{cf} \odot \mathbf{C}_{t-1} + \mathbf{b}_f) \\
    \mathbf{C}_t &= \mathbf{F}_t \odot \mathbf{C}_{t-1} + \mathbf{I}_t \odot \tanh(\mathbf{W}_{xc}
        \ast_\mathcal{G} \mathbf{X}_t + \mathbf{W}_{hc} \ast_\mathcal{G} \mathbf{H}_{t-1} + \mathbf{b}_c) \\
    \mathbf{O}_t &= \sigma(\mathbf{W}_{xo} \ast_\mathcal{G} \mathbf{X}_t + \mathbf{W}_{ho} \ast_\mathcal{G}
        \mathbf{H}_{t-1} + \mathbf{w}_{co} \odot \mathbf{C}_t + \mathbf{b}_o) \\
    \mathbf{H}_t &= \mathbf{O}_t \odot \tanh(\mathbf{C}_t)

where :math:`\mathbf{W} \ast_\mathcal{G} \mathbf{X} = \sum_{k=0}^{K-1} \mathbf{Z}^{(k)} \mathbf{\Theta}^{(k)}`
is the Chebyshev graph convolution of PyG's `ChebConv` (Defferrard et al. 2016) with
:math:`\mathbf{Z}^{(0)} = \mathbf{X}`, :math:`\mathbf{Z}^{(1)} = \hat{\mathbf{L}} \mathbf{X}`,
:math:`\mathbf{Z}^{(k)} = 2 \hat{\mathbf{L}} \mathbf{Z}^{(k-1)} - \mathbf{Z}^{(k-2)}` and the scaled
Laplacian :math:`\hat{\mathbf{L}} = \frac{2}{\lambda_{max}} (\mathbf{I} - \mathbf{D}^{-1/2} \mathbf{A}
\mathbf{D}^{-1/2}) - \mathbf{I}` (self-loops removed, :math:`\lambda_{max} = 2` as in `ChebConv`, so
:math:`\hat{\mathbf{L}} = -\mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}`).

Two implementations of the same function share one set of weights (the eight `ChebConv` modules):

- `GConvLSTM.forward(x, laplacian)` — dense and batched: `x` is ``[B, T, N, F]`` and the scaled Laplacian a
  dense ``[B, N, N]`` tensor, so every propagation is one batched matmul and the four gates of all
  Chebyshev orders are one fused matmul. The input half of every gate is computed for all T steps at once
  before the recurrence. This is what the snow models train with (a fully connected 256-node graph per
  radargram makes the dense form cheaper than message passing). On the CPU the recurrence itself runs
  as one autograd node with a hand-written backward (backpropagation through time), `lstm_recurrence`
  (`nivalis.layers.fused_lstm`), tested against autograd's op-by-op record of the same equations.
- `GConvLSTM.forward_sparse(x, edge_index, edge_weight)` — one graph, PyG message passing through the
  `ChebConv` modules themselves, exactly like the public per-graph implementations; kept as the
  reference the dense path is tested against and as the baseline of `benchmarks/snow_epoch.py`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import ChebConv
from torch_geometric.nn.inits import glorot

from nivalis.layers.fused_lstm import cell_dtype, lstm_recurrence

GATES = ("i", "f", "c", "o")


def scaled_laplacian(adjacency: Tensor, lambda_max: float = 2.0) -> Tensor:
    """Dense :math:`\\hat{L} = 2 (I - D^{-1/2} A D^{-1/2}) / \\lambda_{max} - I` of a weighted graph.

    `adjacency` is ``[..., N, N]`` symmetric, non-negative; its diagonal is ignored (ChebConv removes
    self-loops). Isolated nodes get zero rows, like PyG's masking of infinite degrees.
    """
    scale = 2.0 / lambda_max
    tiny = torch.finfo(adjacency.dtype).tiny
    if not (torch.is_grad_enabled() and adjacency.requires_grad):
        # in place on one copy: every out-of-place op on a [B, N, N] batch is a fresh block of several MB whose
        # page faults cost more than its arithmetic
        adj = adjacency.clone(memory_format=torch.contiguous_format)
        adj.diagonal(dim1=-2, dim2=-1).zero_()
        deg = adj.sum(-1, keepdim=True)
        inv_sqrt = deg.clamp(min=tiny).rsqrt_().mul_(deg > 0)
        lap = adj.mul_(inv_sqrt).mul_(inv_sqrt.transpose(-1, -2) * -scale)
        if scale != 1.0:
            lap.diagonal(dim1=-2, dim2=-1).add_(scale - 1.0)
        return lap
    n = adjacency.shape[-1]
    eye = torch.eye(n, dtype=adjacency.dtype, device=adjacency.device)
    adj = adjacency * (1 - eye)
    deg = adj.sum(-1)
    inv_sqrt = deg.clamp(min=tiny).rsqrt() * (deg > 0)
    sym = inv_sqrt.unsqueeze(-1) * adj * inv_sqrt.unsqueeze(-2)
    lap = -scale * sym
    if scale != 1.0:
        lap = lap + (scale - 1.0) * eye
    return lap


def chebyshev_basis(laplacian: Tensor, x: Tensor, k: int) -> Tensor:
    """``[Z0 | Z1 | ... | Z_{K-1}]`` along the feature axis for node features ``x [..., N, F]``."""
    terms = [x]
    if k > 1:
        terms.append(torch.matmul(laplacian, x))
    for _ in range(2, k):
        terms.append(2 * torch.matmul(laplacian, terms[-1]) - terms[-2])
    return torch.cat(terms, -1) if k > 1 else x


class GConvLSTM(nn.Module):
    """Graph convolutional LSTM cell run over a sequence of graphs (formula in the module docstring).

    Args:
        in_channels: node features per time step F.
        out_channels: hidden channels C (64 in seed 000 §IV-C).
        K: Chebyshev filter size (K = 1: no graph term, the cell is a per-node LSTM).
        peephole: the :math:`w_c \\odot C` terms of Seo et al.
        lambda_max: largest Laplacian eigenvalue assumed by the scaling (2, ChebConv's default for `sym`).
        fused: on the CPU, run the recurrence as one autograd node with a hand-written backward
            (`lstm_recurrence`, the default; faster to train, see `benchmarks/RESULTS.md`); False records it
            op by op. CUDA tensors, a given ``state`` or ``return_sequence=True`` always take the
            op-by-op path.

    Shapes:
        dense input ``x [B, T, N, F]``, ``laplacian [B, N, N]`` (or ``[N, N]``, shared) → ``(H, C)`` each
        ``[B, N, C]`` (with ``return_sequence=True`` H is ``[B, T, N, C]``).

    Under CPU/CUDA autocast the propagations and gate matmuls run in the autocast dtype (bf16), cast once
    per sequence, while the gate nonlinearities and the cell state stay in float32 (H and C are float32).
    """

    def __init__(self, in_channels: int, out_channels: int, K: int = 2, peephole: bool = True,
                 lambda_max: float = 2.0, fused: bool = True):
        super().__init__()
        if K < 1:
            raise ValueError(f"Chebyshev filter size K must be >= 1, got {K}")
        self.in_channels, self.out_channels, self.K = in_channels, out_channels, K
        self.lambda_max = lambda_max
        self.fused = fused
        self.conv_x = nn.ModuleList([ChebConv(in_channels, out_channels, K) for _ in GATES])
        self.conv_h = nn.ModuleList([ChebConv(out_channels, out_channels, K) for _ in GATES])
        self.peephole = peephole
        if peephole:
            self.w_c = nn.Parameter(torch.empty(3, out_channels))  # i, f, o
        else:
            self.register_parameter("w_c", None)
        self.b = nn.Parameter(torch.empty(4, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in (*self.conv_x, *self.conv_h):
            conv.reset_parameters()
        if self.w_c is not None:
            for row in self.w_c:  # glorot per gate vector, as PyG Temporal initialises each w_c [1, C]
                glorot(row.view(1, -1))
        nn.init.zeros_(self.b)

    def _gate_weights(self, convs: nn.ModuleList) -> tuple[Tensor, Tensor]:
        """Weights of the 4 gates × K orders as one ``[K·in, 4·out]`` matrix (+ the summed biases)."""
        weight = torch.cat([torch.cat([conv.lins[k].weight.t() for conv in convs], 1) for k in range(self.K)], 0)
        bias = torch.cat([conv.bias for conv in convs])
        return weight, bias

    def forward(self, x: Tensor, laplacian: Tensor, state: tuple[Tensor, Tensor] | None = None,
                return_sequence: bool = False) -> tuple[Tensor, Tensor]:
        batch, _, nodes, _ = x.shape
        w_x, b_x = self._gate_weights(self.conv_x)
        w_h, b_h = self._gate_weights(self.conv_h)
        bias = b_x + b_h + self.b.reshape(-1)
        w_c = self.w_c
        lap = laplacian.expand(batch, nodes, nodes) if laplacian.dim() == 2 else laplacian
        if torch.is_autocast_enabled("cpu") or (x.is_cuda and torch.is_autocast_enabled("cuda")):
            # cast once per sequence instead of once per op: under autocast every matmul would re-cast the
            # Laplacian and the recurrent state, and the pointwise gates would flip between dtypes
            dtype = torch.get_autocast_dtype("cuda" if x.is_cuda else "cpu")
            x, lap, w_x, w_h, bias = (t.to(dtype) for t in (x, lap, w_x, w_h, bias))
            if state is not None:
                state = (state[0].to(dtype), state[1].float())
        with torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):
            return self._recurrence(x, lap, w_x, w_h, bias, w_c, state, return_sequence)

    def _recurrence(self, x: Tensor, lap: Tensor, w_x: Tensor, w_h: Tensor, bias: Tensor, w_c: Tensor | None,
                    state: tuple[Tensor, Tensor] | None, return_sequence: bool) -> tuple[Tensor, Tensor]:
        batch, steps, nodes, feats = x.shape
        hidden, k = self.out_channels, self.K
        rows = batch * nodes
        # the input half of every gate for all steps at once: one propagation of [B, N, T·F], one matmul
        x_steps = x.permute(0, 2, 1, 3).reshape(batch, nodes, steps * feats)
        basis = chebyshev_basis(lap, x_steps, k).view(batch, nodes, k, steps, feats)
        basis = basis.permute(3, 0, 1, 2, 4).reshape(steps, rows, k * feats)
        if self.fused and x.device.type == "cpu" and state is None and not return_sequence:
            return lstm_recurrence(basis, w_x, bias, w_h, w_c, lap if k > 1 else None, k, batch)
        low = x.dtype
        gate_dtype = cell_dtype(low)
        w_c = None if w_c is None else w_c.to(gate_dtype)
        z_x = torch.baddbmm(bias.expand(steps, 1, 4 * hidden), basis, w_x.expand(steps, *w_x.shape)).unbind(0)
        w_h_orders = w_h.split(hidden, 0)  # Θ_k of the hidden half, [C, 4C] each
        h, c = (None, None) if state is None else state
        outputs = []
        for t in range(steps):
            z = z_x[t]
            if h is not None:
                h = h.to(low)  # matmuls in the autocast dtype (a no-op in float32)
                # Σ_k Z_k(H) Θ_k accumulated in place of a concatenation: no copy of the Chebyshev basis
                term_prev, term = h, None
                for order, theta in enumerate(w_h_orders):
                    if order == 0:
                        term = h
                    elif order == 1:
                        term = torch.bmm(lap, h)
                    else:
                        term, term_prev = 2 * torch.bmm(lap, term) - term_prev, term
                    z = torch.addmm(z, term.reshape(rows, hidden), theta)
            # pointwise gate math in float32: the CPU's bf16 tanh/sigmoid are slower than float32's, and the
            # cell state keeps float32 precision over the sequence
            z = z.to(gate_dtype)
            # gates i, f | c | o; split (not indexing) so the backward is one concatenation, not zero-filled copies
            in_forget, cand, out_gate = z.view(batch, nodes, 4, hidden).split([2, 1, 1], dim=2)
            cand, out_gate = cand.squeeze(2), out_gate.squeeze(2)
            if c is None:
                c = torch.sigmoid(in_forget.select(2, 0)) * torch.tanh(cand)
            else:
                if w_c is not None:
                    in_forget = torch.addcmul(in_forget, w_c[:2], c.unsqueeze(2))
                in_gate, forget_gate = torch.sigmoid(in_forget).unbind(2)
                c = torch.addcmul(forget_gate * c, in_gate, torch.tanh(cand))
            if w_c is not None:
                out_gate = torch.addcmul(out_gate, w_c[2], c)
            h = torch.sigmoid(out_gate) * torch.tanh(c)
            if return_sequence:
                outputs.append(h)
        if return_sequence:
            return torch.stack(outputs, 1), c
        return h, c

    def forward_sparse(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None,
                       state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """One graph, ``x [T, N, F]``, message passing through the ChebConv modules (the reference path)."""
        nodes = x.shape[1]
        if state is None:
            h = x.new_zeros(nodes, self.out_channels)
            c = x.new_zeros(nodes, self.out_channels)
        else:
            h, c = state

        def gate(k: int, x_t: Tensor, h_t: Tensor) -> Tensor:
            return (self.conv_x[k](x_t, edge_index, edge_weight, lambda_max=self.lambda_max)
                    + self.conv_h[k](h_t, edge_index, edge_weight, lambda_max=self.lambda_max) + self.b[k])

        for x_t in x:
            peep = self.w_c if self.peephole else torch.zeros(3, self.out_channels, dtype=x.dtype)
            i = torch.sigmoid(gate(0, x_t, h) + peep[0] * c)
            f = torch.sigmoid(gate(1, x_t, h) + peep[1] * c)
            c = f * c + i * torch.tanh(gate(2, x_t, h))
            o = torch.sigmoid(gate(3, x_t, h) + peep[2] * c)
            h = o * torch.tanh(c)
        return h, c

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, K={self.K}, peephole={self.peephole}"


__all__ = ["GATES", "GConvLSTM", "chebyshev_basis", "scaled_laplacian"]
