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
  as one autograd node, `lstm_recurrence`, whose backward (backpropagation through time) is written out:

  .. math::
      \delta\mathbf{A}_o &= \delta\mathbf{H}_t \odot \tanh\mathbf{C}_t \odot \mathbf{O}_t (1 - \mathbf{O}_t),
      \qquad
      \delta\mathbf{C}_t \mathrel{+}= \delta\mathbf{H}_t \odot \mathbf{O}_t (1 - \tanh^2 \mathbf{C}_t)
          + \mathbf{w}_{co} \odot \delta\mathbf{A}_o \\
      \delta\mathbf{A}_i &= \delta\mathbf{C}_t \odot \mathbf{G}_t \odot \mathbf{I}_t (1 - \mathbf{I}_t),
      \quad \delta\mathbf{A}_f = \delta\mathbf{C}_t \odot \mathbf{C}_{t-1} \odot \mathbf{F}_t
          (1 - \mathbf{F}_t),
      \quad \delta\mathbf{A}_c = \delta\mathbf{C}_t \odot \mathbf{I}_t (1 - \mathbf{G}_t^2) \\
      \delta\mathbf{C}_{t-1} &= \delta\mathbf{C}_t \odot \mathbf{F}_t + \mathbf{w}_{ci} \odot
          \delta\mathbf{A}_i + \mathbf{w}_{cf} \odot \delta\mathbf{A}_f, \qquad
      \delta\mathbf{H}_{t-1} = \textstyle\sum_k \mathbf{Z}^{(k)\top}\text{-chain}
          \bigl(\delta\mathbf{A}_t \mathbf{\Theta}_h^{(k)\top}\bigr)

  (:math:`\mathbf{G}_t` the candidate :math:`\tanh`, :math:`\delta\mathbf{A}` the gradients of the gate
  pre-activations; the last term runs the Chebyshev recursion backwards). The weight gradients of all
  steps are one matmul at the end: autograd's op-by-op record of the same equations spends most of a step
  on pointwise ops, their copies and their fresh buffers. It is tested against that record and
  `gradcheck`. Each step's cell equations run op by op in PyTorch, or, opted in with ``NIVALIS_NATIVE=1``,
  as one compiled C pass forward and backward (`nivalis.layers.native_lstm`); the two agree to float32
  rounding. What each path costs per epoch: `benchmarks/snow_epoch.py`, recorded in `benchmarks/RESULTS.md`.
- `GConvLSTM.forward_sparse(x, edge_index, edge_weight)` — one graph, PyG message passing through the
  `ChebConv` modules themselves, exactly like the public per-graph implementations; kept as the
  reference the dense path is tested against and as the baseline of `benchmarks/snow_epoch.py`.

Why one module of this size: the forward and the hand-written backward of one fused recurrence share their
buffers and layouts; they are read and changed together.
"""

from __future__ import annotations

import threading
import weakref

import torch
from torch import Tensor, nn
from torch_geometric.nn import ChebConv
from torch_geometric.nn.inits import glorot

from nivalis.layers import native_lstm

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


class _Workspace:
    """Free CPU buffers of the recurrence, handed out to one owner at a time and taken back only when given back.

    The recurrence's buffers are tens of MB; glibc maps blocks that large afresh from the OS at every
    allocation and their first-touch page faults cost about as much as the arithmetic on them. A buffer
    `take` returns leaves the free list: nobody else can get it until its owner calls `give_back` (the
    backward's own temporaries, at its end) or `give_back_when_freed` fires (the buffers an autograd node
    saves, once the node itself is freed: after its backward, or when its graph is dropped unused). No
    reference counting, no private torch API: ownership is explicit. At most `limit` buffers are kept for
    each of the `keys` most recent (shape, dtype, inference mode) keys, the others go back to the allocator: a
    recurrence takes 7 keys, and an epoch whose last batch is smaller needs both batch shapes kept.
    """

    def __init__(self, limit: int = 4, keys: int = 16):
        self.limit, self.keys = limit, keys
        self._free: dict[tuple, list[Tensor]] = {}
        self._lock = threading.RLock()  # a node freed while the lock is held gives back too

    @staticmethod
    def _key(t: Tensor) -> tuple:
        # inference tensors refuse in-place use outside inference mode: never hand one to a training step
        return tuple(t.shape), t.dtype, t.is_inference()

    def take(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
        """An uninitialised buffer that from now on belongs to the caller alone."""
        if device.type == "cpu" and self.limit:
            key = (tuple(shape), dtype, torch.is_inference_mode_enabled())
            with self._lock:
                free = self._free.get(key)
                if free:
                    return free.pop()
        return torch.empty(shape, dtype=dtype, device=device)

    def give_back(self, *buffers: Tensor | None) -> None:
        """Return buffers from `take` that their owner will not read or write again."""
        with self._lock:
            for buf in buffers:
                if buf is None or buf.device.type != "cpu":
                    continue
                key = self._key(buf)
                free = self._free.pop(key, [])
                self._free[key] = free  # most recent last
                if len(free) < self.limit:
                    free.append(buf)
            while len(self._free) > self.keys:
                del self._free[next(iter(self._free))]

    def give_back_when_freed(self, owner: object, *buffers: Tensor | None) -> None:
        """Give `buffers` back once `owner` (an autograd node's context that saved them) has been freed."""
        weakref.finalize(owner, self.give_back, *buffers).atexit = False


_WORKSPACE = _Workspace()
_take = _WORKSPACE.take


def _gate_dtype(low: torch.dtype) -> torch.dtype:
    """The dtype of the gate math and the cell state: float32 under bf16/fp16 matmuls, else the matmul dtype."""
    return torch.float32 if low in (torch.bfloat16, torch.float16) else low


def _tanh_(t: Tensor) -> Tensor:
    """In-place :math:`\\tanh t = 2\\sigma(2t) - 1`: the CPU's float32 tanh is much slower than its sigmoid."""
    return t.mul_(2).sigmoid_().mul_(2).sub_(1)


def _cell_forward(z: Tensor, g: Tensor, cells: Tensor, tanh_c: Tensor, t: int, w_c: Tensor | None,
                  h_out: Tensor) -> None:
    """The cell equations of step t in PyTorch, op by op: ``z [R, 4C]`` → gates ``g [R, 4, C]``, ``cells[t]``,
    ``tanh_c``, ``h_out`` (the reference of `native_lstm.forward_step`)."""
    rows = g.shape[0]
    g.view(rows, -1).copy_(z)
    if t and w_c is not None:
        g[:, 0].addcmul_(w_c[0], cells[t - 1])
        g[:, 1].addcmul_(w_c[1], cells[t - 1])
    g[:, 2].mul_(2)
    g[:, :3].sigmoid_()
    g[:, 2].mul_(2).sub_(1)  # tanh of the candidate from the shared sigmoid
    c = cells[t]
    if t == 0:
        torch.mul(g[:, 0], g[:, 2], out=c)
    else:
        torch.mul(g[:, 1], cells[t - 1], out=c).addcmul_(g[:, 0], g[:, 2])
    if w_c is not None:
        g[:, 3].addcmul_(w_c[2], c)
    g[:, 3].sigmoid_()
    _tanh_(tanh_c.copy_(c))
    torch.mul(g[:, 3], tanh_c, out=h_out)


class _FusedRecurrence(torch.autograd.Function):
    """`lstm_recurrence` as one autograd node: forward loop, hand-written backpropagation through time."""

    @staticmethod
    def forward(ctx, x_basis: Tensor, w_x: Tensor, bias: Tensor, w_h: Tensor, w_c: Tensor | None,
                lap: Tensor | None, k: int, batch: int, compiled: bool) -> tuple[Tensor, Tensor]:
        steps, rows, width_x = x_basis.shape
        width_h, width = w_h.shape
        hidden = width // 4
        nodes = rows // batch
        low, dev = x_basis.dtype, x_basis.device
        gate_dtype = _gate_dtype(low)
        gates = _take((steps, rows, 4, hidden), gate_dtype, dev)  # i, f, g, o after their nonlinearity
        cells = _take((steps, rows, hidden), gate_dtype, dev)
        tanh_c = _take((steps, rows, hidden), gate_dtype, dev)
        # per step [Z0 | ... | Z_{K-1} of H_{t-1} | X basis | 1 | 0 …] in the matmul dtype, rows padded to 16
        # values for aligned loads: one matmul per step forward, one for all three weight gradients
        # (W_h, W_x, b) backward; H_{-1} = 0
        used = width_h + width_x + 1
        inputs = _take((steps, batch, nodes, -(-used // 16) * 16), low, dev)
        flat_in = inputs.view(steps, rows, -1)
        flat_in[..., width_h:width_h + width_x].copy_(x_basis)
        flat_in[..., width_h + width_x].fill_(1)
        flat_in[..., used:].zero_()
        flat_in[0, :, :width_h].zero_()
        weight = torch.cat([w_h, w_x, bias.unsqueeze(0), w_h.new_zeros(inputs.shape[-1] - used, width)])
        h = torch.empty(batch, nodes, hidden, dtype=gate_dtype, device=dev)
        if compiled:  # the cell equations in one compiled pass per step (`native_lstm`)
            c_none = torch.zeros(rows, hidden, dtype=gate_dtype, device=dev)  # C_{-1}
            w_cells = c_none.new_zeros(3, hidden) if w_c is None else w_c.contiguous()
            z_buf = _take((rows, width), low, dev)
        for t in range(steps):
            last = t == steps - 1
            h_out = h.view(rows, hidden) if last else flat_in[t + 1][:, :hidden]
            if compiled:
                z = torch.mm(flat_in[t], weight, out=z_buf) if t else torch.mm(flat_in[0, :, width_h:],
                                                                               weight[width_h:], out=z_buf)
                native_lstm.forward_step(z, cells[t - 1] if t else c_none, w_cells, gates[t].view(rows, -1),
                                         cells[t], tanh_c[t], h_out)
            else:
                z = torch.mm(flat_in[t], weight) if t else torch.mm(flat_in[0, :, width_h:], weight[width_h:])
                _cell_forward(z, gates[t], cells, tanh_c[t], t, w_c, h_out)
            if last:
                break
            nxt = inputs[t + 1]
            for order in range(1, k):
                out = nxt[..., order * hidden:(order + 1) * hidden]
                torch.bmm(lap, nxt[..., (order - 1) * hidden:order * hidden], out=out)
                if order > 1:
                    out.mul_(2).sub_(nxt[..., (order - 2) * hidden:(order - 1) * hidden])
        c_last = cells[-1].view(batch, nodes, hidden).clone()
        ctx.save_for_backward(gates, cells, tanh_c, inputs, w_x, w_h, w_c, lap)
        if compiled:
            _WORKSPACE.give_back(z_buf)
        # saved for the backward: back to the workspace when this node is freed (after its backward, or at once
        # when no gradient is recorded)
        _WORKSPACE.give_back_when_freed(ctx, gates, cells, tanh_c, inputs)
        ctx.batch, ctx.k, ctx.compiled = batch, k, compiled
        return h, c_last

    @staticmethod
    def backward(ctx, grad_h: Tensor | None, grad_c: Tensor | None):
        gates, cells, tanh_c, inputs, w_x, w_h, w_c, lap = ctx.saved_tensors
        steps, rows, _, hidden = gates.shape
        batch, k, compiled = ctx.batch, ctx.k, ctx.compiled
        nodes = rows // batch
        width_x, width_h = w_x.shape[0], w_h.shape[0]
        low, fp, dev = inputs.dtype, gates.dtype, gates.device
        need_lap = ctx.needs_input_grad[5]
        dh = torch.zeros(rows, hidden, dtype=fp, device=dev) if grad_h is None else grad_h.reshape(rows, hidden).to(fp)
        dc = torch.zeros(rows, hidden, dtype=fp, device=dev)
        if grad_c is not None:
            dc.copy_(grad_c.reshape(rows, hidden))
        dz = _take((steps, rows, 4 * hidden), low, dev)
        if compiled:
            c_none = torch.zeros(rows, hidden, dtype=fp, device=dev)
            w_cells = c_none.new_zeros(3, hidden) if w_c is None else w_c.to(fp).contiguous()
            peep = torch.zeros(3, hidden, dtype=torch.float64, device=dev)
        else:
            da = _take((rows, 4, hidden), fp, dev)
            tmp = _take((rows, hidden), fp, dev)
            peep = None if w_c is None else _take((rows, 3, hidden), fp, dev).zero_()
        dlap = torch.zeros(batch, nodes, nodes, dtype=fp, device=dev) if need_lap else None
        # L^T laid out once: a transposed bf16 operand slows each of the T-1 batched matmuls below
        lap_t = lap.transpose(1, 2).contiguous() if lap is not None else None
        for t in range(steps - 1, -1, -1):
            if compiled:
                if not dh.is_contiguous():
                    dh = dh.contiguous()
                native_lstm.backward_step(dh, dc, gates[t].view(rows, -1), cells[t], tanh_c[t],
                                          cells[t - 1] if t else c_none, w_cells, dz[t], peep)
            else:
                _cell_backward(dh, dc, gates[t], cells, tanh_c[t], t, w_c, da, tmp, peep)
                dz[t].copy_(da.view(rows, 4 * hidden))
            if t == 0:
                break
            # Z = [Z0 | … | Z_{K-1}](H_prev) Θ_h: back through the matmul and the Chebyshev recursion
            parts = list(torch.mm(dz[t], w_h.t()).view(batch, nodes, k, hidden).unbind(2))
            z_prev = inputs[t][..., :width_h].view(batch, nodes, k, hidden).unbind(2)
            for order in range(k - 1, 0, -1):  # Z_1 = L Z_0, Z_k = 2 L Z_{k-1} - Z_{k-2}
                grad = parts[order] * 2 if order > 1 else parts[order]
                if need_lap:
                    dlap.baddbmm_(grad.to(fp), z_prev[order - 1].transpose(1, 2).to(fp))
                parts[order - 1] = torch.baddbmm(parts[order - 1], lap_t, grad)
                if order > 1:
                    parts[order - 2] = parts[order - 2] - parts[order]
            # the compiled step reads dH in the matmul dtype, rows in place
            dh = parts[0].reshape(rows, hidden) if compiled else parts[0].reshape(rows, hidden).to(fp)
        flat_dz = dz.view(-1, 4 * hidden)
        grad_x = grad_wx = grad_b = grad_wh = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.mm(flat_dz, w_x.t()).view(steps, rows, width_x)
        if any(ctx.needs_input_grad[1:4]):
            grad_w = torch.mm(inputs.view(steps * rows, -1).t(), flat_dz)
            grad_wh, grad_wx, grad_b = grad_w[:width_h], grad_w[width_h:width_h + width_x], grad_w[width_h + width_x]
        grad_wc = None
        if w_c is not None:
            grad_wc = (peep if compiled else peep.sum(0)).to(w_c.dtype)
        if not torch.is_grad_enabled():  # under create_graph the ops above may have saved them for a double backward
            _WORKSPACE.give_back(dz, *(() if compiled else (da, tmp, peep)))  # no gradient above is a view of them
        return (grad_x, grad_wx, grad_b, grad_wh, grad_wc, None if dlap is None else dlap.to(lap.dtype), None, None,
                None)


def _cell_backward(dh: Tensor, dc: Tensor, g: Tensor, cells: Tensor, tanh_c: Tensor, t: int, w_c: Tensor | None,
                   da: Tensor, tmp: Tensor, peep: Tensor | None) -> None:
    """Backward of `_cell_forward` in PyTorch, op by op: ``dh``, ``dc`` (dC_t in, dC_{t-1} out) → the gate
    pre-activation gradients ``da [R, 4, C]``; the peephole gradients are added to ``peep [R, 3, C]``."""
    i, f, g_, o = g.unbind(1)
    c = cells[t]
    sig_bwd, tanh_bwd = torch.ops.aten.sigmoid_backward.grad_input, torch.ops.aten.tanh_backward.grad_input
    w_c32 = None if w_c is None else w_c.to(dc.dtype)
    # H = O ⊙ tanh C, O = σ(… + w_co ⊙ C)
    sig_bwd(torch.mul(dh, tanh_c, out=tmp), o, grad_input=da[:, 3])
    dc.add_(tanh_bwd(torch.mul(dh, o, out=tmp), tanh_c, grad_input=tmp))
    if w_c is not None:
        dc.addcmul_(da[:, 3], w_c32[2])
        peep[:, 2].addcmul_(da[:, 3], c)
    # C = F ⊙ C_prev + I ⊙ G, I = σ(… + w_ci ⊙ C_prev), F = σ(… + w_cf ⊙ C_prev)
    sig_bwd(torch.mul(dc, g_, out=tmp), i, grad_input=da[:, 0])
    tanh_bwd(torch.mul(dc, i, out=tmp), g_, grad_input=da[:, 2])
    if t:
        c_prev = cells[t - 1]
        sig_bwd(torch.mul(dc, c_prev, out=tmp), f, grad_input=da[:, 1])
        dc.mul_(f)
        if w_c is not None:
            dc.addcmul_(da[:, 0], w_c32[0]).addcmul_(da[:, 1], w_c32[1])
            peep[:, 0].addcmul_(da[:, 0], c_prev)
            peep[:, 1].addcmul_(da[:, 1], c_prev)
    else:
        da[:, 1].zero_()


def lstm_recurrence(x_basis: Tensor, w_x: Tensor, bias: Tensor, w_h: Tensor, w_c: Tensor | None = None,
                    laplacian: Tensor | None = None, k: int = 1, batch: int = 1,
                    compiled: bool | None = None) -> tuple[Tensor, Tensor]:
    """Last ``(H_T, C_T)`` of the (graph) LSTM recurrence from a zero state, as one autograd node.

    The gates of step t are :math:`\\mathbf{Z}_t = \\mathbf{b} + \\mathbf{B}^x_t \\mathbf{W}_x +
    [\\mathbf{Z}^{(0)} | \\ldots | \\mathbf{Z}^{(K-1)}](\\mathbf{H}_{t-1}) \\mathbf{W}_h` (order i, f, c, o)
    followed by the cell equations of the module docstring. ``x_basis [T, B·N, K·F]`` is the Chebyshev
    basis of the inputs (the inputs themselves for K = 1), ``w_x [K·F, 4C]``, ``bias [4C]``, ``w_h [K·C, 4C]``,
    ``w_c [3, C]`` the peepholes (i, f, o; None for none) and ``laplacian [B, N, N]`` the scaled Laplacian
    (None for K = 1: a plain LSTM). Matmuls run in ``x_basis``'s dtype, gates and cell state in float32
    (float64 for float64 inputs). The backward is written out: backpropagation through time over the gate
    equations, both weight gradients as one matmul over all steps, so a step is its matmul plus pointwise
    passes bound by memory traffic. ``compiled`` picks the cell equations' implementation: None = the C cell
    where ``NIVALIS_NATIVE=1`` asked for it and `native_lstm.supports` the dtype and width, else PyTorch;
    True = the C cell or an error; False = PyTorch. Tested against the op-by-op path. Returns ``[B, N, C]``
    tensors in the gate dtype.
    """
    if k > 1 and laplacian is None:
        raise ValueError("a Chebyshev basis with K > 1 needs the Laplacian")
    device = x_basis.device.type
    if torch.is_autocast_enabled(device):  # the matmul dtype is the autocast dtype, gates stay float32
        x_basis = x_basis.to(torch.get_autocast_dtype(device))
    low = x_basis.dtype
    lap = laplacian.to(low) if laplacian is not None and k > 1 else None
    w_c = None if w_c is None else w_c.to(_gate_dtype(low))
    hidden = w_h.shape[1] // 4
    if compiled is None:
        compiled = native_lstm.supports(low, x_basis.device, hidden)
    elif compiled and not native_lstm.supports(low, x_basis.device, hidden):
        raise ValueError(f"the compiled LSTM cell cannot run {low} on {x_basis.device} with {hidden} channels "
                         f"(available: {native_lstm.available()})")
    with torch.autocast(device, enabled=False):
        return _FusedRecurrence.apply(x_basis, w_x.to(low), bias.to(low), w_h.to(low), w_c, lap, k, batch, compiled)


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
        gate_dtype = _gate_dtype(low)
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


__all__ = ["GATES", "GConvLSTM", "chebyshev_basis", "lstm_recurrence", "scaled_laplacian"]
