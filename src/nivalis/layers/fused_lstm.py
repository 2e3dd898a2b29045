r"""The (graph) LSTM recurrence as one autograd node: a forward loop and a hand-written backpropagation through time.

`lstm_recurrence` runs the cell equations of `nivalis.layers.graph_conv_lstm` (Seo et al.'s GConvLSTM, whose
module docstring writes them; with K = 1 a per-node LSTM, as the snow models' LSTM uses it) over T steps
from a zero state, dense and batched: the gates of a step are one matmul of ``[Chebyshev basis of H | input
basis | 1]`` with all gates' weights. Its backward (backpropagation through time) is written out:

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
The forward, the backward and the buffer workspace they share (`_Workspace`) are read and changed together.
"""

from __future__ import annotations

import threading
import weakref

import torch
from torch import Tensor

from nivalis.layers import native_lstm


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


def cell_dtype(low: torch.dtype) -> torch.dtype:
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
        gate_dtype = cell_dtype(low)
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
    followed by the cell equations of `nivalis.layers.graph_conv_lstm`. ``x_basis [T, B·N, K·F]`` is the Chebyshev
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
    w_c = None if w_c is None else w_c.to(cell_dtype(low))
    hidden = w_h.shape[1] // 4
    if compiled is None:
        compiled = native_lstm.supports(low, x_basis.device, hidden)
    elif compiled and not native_lstm.supports(low, x_basis.device, hidden):
        raise ValueError(f"the compiled LSTM cell cannot run {low} on {x_basis.device} with {hidden} channels "
                         f"(available: {native_lstm.available()})")
    with torch.autocast(device, enabled=False):
        return _FusedRecurrence.apply(x_basis, w_x.to(low), bias.to(low), w_h.to(low), w_c, lap, k, batch, compiled)


__all__ = ["cell_dtype", "lstm_recurrence"]
