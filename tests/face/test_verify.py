import numpy as np
import pytest
import torch

from nivalis.errors import UserError
from nivalis.face.verify import embed_with_flip, evaluate_pairs, kfold, verification_metrics


def _pairs(n_pairs: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    issame = np.tile([True] * 30 + [False] * 30, n_pairs // 60)
    emb = []
    for same in issame:
        a = rng.normal(size=64)
        b = a + noise * rng.normal(size=64) if same else rng.normal(size=64)
        emb += [a, b]
    return np.array(emb), issame


def test_kfold_is_sklearns_without_shuffle():
    from sklearn.model_selection import KFold

    for n in (600, 605):
        ours = kfold(n, 10)
        theirs = list(KFold(n_splits=10, shuffle=False).split(np.arange(n)))
        for (a_tr, a_te), (b_tr, b_te) in zip(ours, theirs):
            np.testing.assert_array_equal(a_tr, b_tr)
            np.testing.assert_array_equal(a_te, b_te)


def test_separable_embeddings_give_accuracy_one():
    emb, issame = _pairs(600, noise=0.05)
    result = evaluate_pairs(emb, issame)
    assert result["folds"] == 10 and result["pairs"] == 600
    assert result["accuracy"] == pytest.approx(1.0) and result["accuracy_std"] == pytest.approx(0.0)
    assert result["tar_at_far"] > 0.99
    roc = result["roc"]
    assert roc["fpr"].shape == roc["tpr"].shape == (400,)
    assert np.all(np.diff(roc["tpr"]) >= 0) and np.all(np.diff(roc["fpr"]) >= 0)


def test_random_embeddings_give_chance():
    rng = np.random.default_rng(1)
    issame = np.tile([True] * 300 + [False] * 300, 10)
    result = evaluate_pairs(rng.normal(size=(2 * len(issame), 64)), issame)
    assert abs(result["accuracy"] - 0.5) < 0.04
    assert result["tar_at_far"] < 0.05


def test_matches_insightface_loop_on_noisy_pairs():
    """The vectorised counts equal insightface's per-threshold loop (calculate_roc / calculate_accuracy)."""
    emb, issame = _pairs(600, noise=2.5, seed=3)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    dist = np.sum(np.square(e[0::2] - e[1::2]), 1)
    thresholds = np.arange(0, 4, 0.01)

    def acc(t, d, s):
        p = np.less(d, t)
        return (np.sum(p & s) + np.sum(~p & ~s)) / d.size

    expected = []
    for train, test in kfold(len(dist), 10):
        best = thresholds[int(np.argmax([acc(t, dist[train], issame[train]) for t in thresholds]))]
        expected.append(acc(best, dist[test], issame[test]))
    result = verification_metrics(dist, issame)
    assert result["fold_accuracy"] == pytest.approx(expected)
    assert result["accuracy"] == pytest.approx(np.mean(expected))
    assert result["accuracy_std"] == pytest.approx(np.std(expected))
    assert 0.6 < result["accuracy"] < 0.99


def test_flip_embeddings_are_summed_then_normalised():
    calls = []

    def backbone(x):
        calls.append(x.clone())
        return x.flatten(1)[:, :3]

    x = torch.arange(2 * 1 * 2 * 2, dtype=torch.float32).reshape(2, 1, 2, 2)
    emb = embed_with_flip(backbone, x)
    expected = x.flatten(1)[:, :3] + torch.flip(x, dims=[3]).flatten(1)[:, :3]
    assert torch.allclose(emb, torch.nn.functional.normalize(expected, dim=1))
    assert len(calls) == 2


def test_too_few_pairs_is_a_user_error():
    with pytest.raises(UserError, match="folds"):
        verification_metrics(np.zeros(5), np.ones(5, dtype=bool))


def _insightface_calculate_val(dist, issame, far_target=1e-3):
    """insightface's calculate_val written out plainly: per-threshold loop, SciPy <= 1.8's slinear spline."""
    from scipy.interpolate import BSpline

    thresholds = np.arange(0, 4, 0.001)
    vals = []
    for train, test in kfold(len(dist), 10):
        far_train = np.zeros(len(thresholds))
        for i, t in enumerate(thresholds):
            p = np.less(dist[train], t)
            far_train[i] = np.sum(p & ~issame[train]) / np.sum(~issame[train])
        if np.max(far_train) >= far_target:
            # interp1d(kind="slinear") in SciPy <= 1.8: make_interp_spline(k=1) = BSpline(r_[x0, x, xn], y, 1)
            threshold = float(BSpline(np.r_[far_train[0], far_train, far_train[-1]], thresholds, 1)(far_target))
        else:
            threshold = 0.0
        p = np.less(dist[test], threshold)
        vals.append(np.sum(p & issame[test]) / np.sum(issame[test]))
    return float(np.mean(vals))


@pytest.mark.parametrize("noise,seed", [(1.2, 0), (1.6, 1), (2.5, 3)])
def test_tar_at_far_is_insightfaces_calculate_val(noise, seed):
    emb, issame = _pairs(600, noise=noise, seed=seed)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    dist = np.sum(np.square(e[0::2] - e[1::2]), 1)
    expected = _insightface_calculate_val(dist, issame)
    assert verification_metrics(dist, issame)["tar_at_far"] == pytest.approx(expected, abs=1e-12)


def test_slinear_at_plateaus_takes_the_ends_next_to_the_target():
    from nivalis.face.verify import slinear_at

    far = np.array([0.0, 0.0, 0.0, 0.1, 0.1, 0.2])
    thr = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert slinear_at(far, thr, 0.05) == pytest.approx(2.5)  # between (0, 2) and (0.1, 3)
    assert slinear_at(far, thr, 0.1) == pytest.approx(4.0)  # on a plateau: its last point
    assert slinear_at(far, thr, 0.15) == pytest.approx(4.5)
