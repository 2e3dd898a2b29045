"""Seed 000's three thickness regressors on temporal graphs: GCN-LSTM, GCN and LSTM (§IV-C, §V-A).

All three share the head of §IV-C and take the same batch, ``features [B, T, N, F]`` (T feature layers,
N traces, F = latitude, longitude, thickness, ...) and ``adjacency [B, N, N]`` (normalised haversine
weights), and return ``[B, N, P]`` thicknesses in pixels:

.. math::
    \\hat{\\mathbf{Y}} = \\bigl(\\mathrm{FC}_{32 \\to P}\\, \\mathrm{Drop}_{0.2}\\, \\mathrm{hs}\\,
        \\mathrm{FC}_{64 \\to 32}\\, \\mathrm{hs}(\\mathbf{H})\\bigr) \\odot \\boldsymbol{\\sigma}_y + \\boldsymbol{\\mu}_y

with hs = Hardswish and :math:`\\mathbf{H} \\in \\mathbb{R}^{N \\times 64}` from

- ``gcn_lstm``: the last hidden state of a GConvLSTM (Seo et al. 2017, Chebyshev K) run over the T graphs,
  :math:`\\mathbf{H} = \\mathbf{H}_T` (`nivalis.layers.graph_conv_lstm`);
- ``gcn``: one GCN layer (Kipf & Welling) on a single graph whose nodes carry 2 + T features (latitude,
  longitude, the T thicknesses), :math:`\\mathbf{H} = \\hat{\\mathbf{D}}^{-1/2} (\\mathbf{A} + \\mathbf{I})
  \\hat{\\mathbf{D}}^{-1/2} \\mathbf{X} \\mathbf{\\Theta}` (PyG's `DenseGCNConv`, batched);
- ``lstm``: an LSTM over the T steps of each node on its own, no adjacency (nodes as rows).

:math:`\\boldsymbol{\\mu}_y, \\boldsymbol{\\sigma}_y` are the training targets' mean and standard deviation
(buffers, saved with the weights): the network works in standardised units while the loss stays the
seed's MSE in pixels. With ``learnable_adjacency`` (§VI-A.3) the graph models use
:math:`\\mathbf{A} \\odot \\exp(\\tfrac{1}{2}(\\mathbf{E} + \\mathbf{E}^\\top))` with a trainable
:math:`\\mathbf{E} \\in \\mathbb{R}^{N \\times N}` starting at 0 (the haversine graph).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import DenseGCNConv

from nivalis.errors import UserError
from nivalis.layers.conv_bn_act import make_activation
from nivalis.layers.fused_lstm import lstm_recurrence
from nivalis.layers.graph_conv_lstm import GConvLSTM, scaled_laplacian
from nivalis.snow.config import MODELS, SnowConfig


def _activation(name: str) -> nn.Module:
    act = make_activation(name)
    if hasattr(act, "inplace"):
        act.inplace = False  # LSTM outputs are views the autograd graph still needs
    return act


class ThicknessHead(nn.Module):
    """hs → FC(64→32) → hs → Dropout(0.2) → FC(32→P), scaled back to pixels (seed 000 §IV-C)."""

    def __init__(self, hidden: int, fc_hidden: int, n_targets: int, dropout: float, activation: str):
        super().__init__()
        self.act1 = _activation(activation)
        self.fc1 = nn.Linear(hidden, fc_hidden)
        self.act2 = _activation(activation)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(fc_hidden, n_targets)
        self.register_buffer("target_mean", torch.zeros(n_targets))
        self.register_buffer("target_std", torch.ones(n_targets))

    def set_target_scale(self, mean, std) -> None:
        self.target_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.target_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def forward(self, h: Tensor) -> Tensor:
        out = self.fc2(self.drop(self.act2(self.fc1(self.act1(h)))))
        return out.float() * self.target_std + self.target_mean


class _LearnableAdjacency(nn.Module):
    def __init__(self, nodes: int):
        super().__init__()
        self.edge_logits = nn.Parameter(torch.zeros(nodes, nodes))

    def forward(self, adjacency: Tensor) -> Tensor:
        if adjacency.shape[-1] != self.edge_logits.shape[0]:
            raise UserError(f"learnable adjacency was trained for {self.edge_logits.shape[0]} nodes, "
                            f"got graphs of {adjacency.shape[-1]}")
        sym = 0.5 * (self.edge_logits + self.edge_logits.t())
        return adjacency * torch.exp(sym)


class GCNLSTMRegressor(nn.Module):
    """GConvLSTM over the T layer graphs → head (seed 000 §IV-C, Fig. 2)."""

    def __init__(self, in_features: int, n_targets: int = 5, hidden: int = 64, fc_hidden: int = 32, cheb_k: int = 2,
                 dropout: float = 0.2, activation: str = "hardswish", learnable_adjacency: bool = False,
                 nodes: int = 256, **_: Any):
        super().__init__()
        self.recurrent = GConvLSTM(in_features, hidden, K=cheb_k)
        self.adjacency = _LearnableAdjacency(nodes) if learnable_adjacency else None
        self.head = ThicknessHead(hidden, fc_hidden, n_targets, dropout, activation)

    def forward(self, features: Tensor, adjacency: Tensor) -> Tensor:
        if self.adjacency is not None:
            adjacency = self.adjacency(adjacency)
        h, _ = self.recurrent(features, scaled_laplacian(adjacency))
        return self.head(h)


class GCNRegressor(nn.Module):
    """One dense GCN layer on a single graph with 2 + T node features → head (seed 000 §V-A)."""

    def __init__(self, in_features: int, n_static: int = 2, steps: int = 10, n_targets: int = 5, hidden: int = 64,
                 fc_hidden: int = 32, dropout: float = 0.2, activation: str = "hardswish",
                 learnable_adjacency: bool = False, nodes: int = 256, **_: Any):
        super().__init__()
        self.n_static = n_static
        n_dynamic = in_features - n_static
        self.conv = DenseGCNConv(n_static + steps * n_dynamic, hidden)
        self.adjacency = _LearnableAdjacency(nodes) if learnable_adjacency else None
        self.head = ThicknessHead(hidden, fc_hidden, n_targets, dropout, activation)

    def node_features(self, features: Tensor) -> Tensor:
        """[B, N, Fs + T·Fd]: static features once, then every layer's dynamic features."""
        static = features[:, 0, :, :self.n_static]
        dynamic = features[..., self.n_static:].permute(0, 2, 1, 3).flatten(2)
        return torch.cat([static, dynamic], -1)

    def forward(self, features: Tensor, adjacency: Tensor) -> Tensor:
        if self.adjacency is not None:
            adjacency = self.adjacency(adjacency)
        return self.head(self.conv(self.node_features(features), adjacency))


class LSTMRegressor(nn.Module):
    """An LSTM over the T layers of each trace on its own, no adjacency → head (seed 000 §V-A)."""

    def __init__(self, in_features: int, n_targets: int = 5, hidden: int = 64, fc_hidden: int = 32,
                 dropout: float = 0.2, activation: str = "hardswish", learnable_adjacency: bool = False, **_: Any):
        super().__init__()
        if learnable_adjacency:
            raise UserError("the lstm model has no graph: --learnable-adjacency needs gcn_lstm or gcn")
        self.recurrent = nn.LSTM(in_features, hidden, batch_first=True)
        self.head = ThicknessHead(hidden, fc_hidden, n_targets, dropout, activation)
        self.fused = True  # CPU: nn.LSTM's weights through `lstm_recurrence`; False: nn.LSTM's own kernel

    def forward(self, features: Tensor, adjacency: Tensor | None = None) -> Tensor:
        b, t, n, f = features.shape
        lstm = self.recurrent
        if self.fused and features.device.type == "cpu":
            # the same LSTM (gates i, f, g, o, nn.LSTM's weights) through the fused recurrence, whose written-out
            # backward trains faster on the CPU than nn.LSTM's kernel (benchmarks/snow_epoch.py); on a GPU cuDNN's
            # kernel runs
            h, _ = lstm_recurrence(features.permute(1, 0, 2, 3).reshape(t, b * n, f), lstm.weight_ih_l0.t(),
                                   lstm.bias_ih_l0 + lstm.bias_hh_l0, lstm.weight_hh_l0.t(), batch=b)
            return self.head(h)
        _, (h, _) = lstm(features.permute(0, 2, 1, 3).reshape(b * n, t, f))
        return self.head(h[-1].reshape(b, n, -1))


_CLASSES = {"gcn_lstm": GCNLSTMRegressor, "gcn": GCNRegressor, "lstm": LSTMRegressor}


def snow_model_kwargs(name: str, cfg: SnowConfig, in_features: int, n_static: int) -> dict[str, Any]:
    """Plain constructor arguments (stored in checkpoints' meta to rebuild the model)."""
    if name not in _CLASSES:
        raise UserError(f"unknown snow model {name!r} ({', '.join(MODELS)})")
    return {"in_features": in_features, "n_static": n_static, "steps": cfg.feature_layers,
            "n_targets": cfg.target_layers, "hidden": cfg.hidden, "fc_hidden": cfg.fc_hidden, "cheb_k": cfg.cheb_k,
            "dropout": cfg.dropout, "activation": cfg.activation, "learnable_adjacency": cfg.learnable_adjacency,
            "nodes": cfg.columns}


def create_snow_model(name: str, **kwargs: Any) -> nn.Module:
    """Build ``gcn_lstm``, ``gcn`` or ``lstm`` from `snow_model_kwargs`."""
    if name not in _CLASSES:
        raise UserError(f"unknown snow model {name!r} ({', '.join(MODELS)})")
    return _CLASSES[name](**kwargs)


__all__ = ["GCNLSTMRegressor", "GCNRegressor", "LSTMRegressor", "ThicknessHead", "create_snow_model",
           "snow_model_kwargs"]
