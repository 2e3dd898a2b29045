"""Baselines for the snow task: what a forecast must beat before a graph network means anything.

- **climatology**: every trace of a test radargram gets the training set's mean thickness of each target year,
  :math:`\\hat y_{n,p} = \\frac{1}{|\\mathcal{T}|} \\sum_{(r,n') \\in \\mathcal{T}} y_{r,n',p}`;
- **ridge** (per trace): a linear model of one trace's own feature history, no neighbours,
  :math:`\\hat{\\mathbf y}_n = W^\\top \\mathrm{vec}(X_{:,n,:}) + \\mathbf b`, fitted by ridge regression
  :math:`\\min_W \\|Y - XW\\|^2 + \\alpha \\|W\\|^2` on every training trace (the features are the models'
  normalised node features over the T feature layers, so the comparison uses exactly their inputs).
  ``alpha`` = 1.0 on standardised features, not tuned on the test set.
"""

from __future__ import annotations

import numpy as np
import torch

from nivalis.snow.graphs import SnowGraphs

BASELINES = ("climatology", "ridge")


def _per_trace(dataset: SnowGraphs) -> tuple[np.ndarray, np.ndarray]:
    """X [R·N, T·F] (one row per trace: its whole feature history) and Y [R·N, P]."""
    f = dataset.features.double().numpy()                # [R, T, N, F]
    r, t, n, k = f.shape
    x = f.transpose(0, 2, 1, 3).reshape(r * n, t * k)
    y = dataset.targets.double().numpy().reshape(r * n, -1)
    return x, y


def predict_baseline(name: str, train: SnowGraphs, test: SnowGraphs, alpha: float = 1.0) -> torch.Tensor:
    """[R_test, N, P] thickness predicted by baseline `name` fitted on `train` only."""
    shape = test.targets.shape
    if name == "climatology":
        mean = train.targets.double().reshape(-1, shape[-1]).mean(0)
        return mean.expand(shape).float().clone()
    if name == "ridge":
        from sklearn.linear_model import Ridge

        x_train, y_train = _per_trace(train)
        x_test, _ = _per_trace(test)
        model = Ridge(alpha=alpha).fit(x_train, y_train)
        return torch.from_numpy(model.predict(x_test).reshape(shape)).float()
    raise ValueError(f"unknown baseline {name!r} ({', '.join(BASELINES)})")


__all__ = ["BASELINES", "predict_baseline"]
