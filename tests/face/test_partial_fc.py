"""The classifier sharded by identity (PartialFC): 2 gloo processes give 1 process's loss and gradients."""

import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from nivalis.engine import load_checkpoint
from nivalis.face.losses import build_head
from nivalis.face.partial_fc import ShardedMarginHead, class_range
from tests.face.partial_fc_worker import fixed_batch, run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _full(loss: str, weight: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    head = build_head(loss, weight.shape[1], weight.shape[0]).to(weight.dtype)
    head.weight.data.copy_(weight)
    x = x.clone().requires_grad_(True)
    value = F.cross_entropy(head(x, y), y)
    value.backward()
    return value.detach(), x.grad, head.weight.grad


def test_class_ranges_cover_every_identity_once():
    for classes, world in ((12, 2), (11, 3), (5, 5)):
        ranges = [class_range(classes, r, world) for r in range(world)]
        assert ranges[0][0] == 0 and ranges[-1][1] == classes
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert max(b - a for a, b in ranges) - min(b - a for a, b in ranges) <= 1


@pytest.mark.parametrize("loss", ["arcface", "cosface", "softmax"])
def test_one_process_equals_the_full_classifier(loss):
    x, y = fixed_batch()
    x = x.float()
    head = ShardedMarginHead(loss, 16, 12, seed=0)
    mine = x.clone().requires_grad_(True)
    value = head(mine, y)
    value.backward()
    ref, grad, wgrad = _full(loss, head.weight.detach(), x, y)
    assert value.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(mine.grad, grad, atol=1e-6) and torch.allclose(head.weight.grad, wgrad, atol=1e-6)


def test_sampling_keeps_every_positive_centre():
    x, y = fixed_batch(classes=40)
    x = x.float()
    head = ShardedMarginHead("arcface", 16, 40, sample_rate=0.1, seed=0)  # 4 sampled, fewer than the positives
    value = head(x, y)
    value.backward()
    touched = head.weight.grad.abs().sum(1) > 0
    positives = torch.unique(y)
    assert touched[positives].all() and int(touched.sum()) == len(positives)
    assert torch.isfinite(value)
    head = ShardedMarginHead("arcface", 16, 40, sample_rate=0.5, seed=0)
    head(x, y).backward()
    assert int((head.weight.grad.abs().sum(1) > 0).sum()) == 20


def test_two_gloo_processes_match_one_and_resume_on_one(tmp_path, monkeypatch):
    from nivalis.face.train import standin_config, train_face

    mp.spawn(run, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    x, y = fixed_batch()
    for loss in ("arcface", "cosface"):
        parts = [torch.load(tmp_path / f"{loss}{r}.pt", weights_only=True) for r in range(2)]
        weight = torch.cat([p["weight"] for p in parts])
        assert [(p["start"], p["stop"]) for p in parts] == [(0, 6), (6, 12)]
        assert all(p["params"] == 12 * 16 // 2 for p in parts)  # each rank holds half of the centres
        ref, grad, wgrad = _full(loss, weight, x, y)
        for p in parts:
            assert abs(p["loss"].item() - ref.item()) < 1e-5
        assert torch.allclose(torch.cat([p["grad"] for p in parts]), grad, atol=1e-5)
        assert torch.allclose(torch.cat([p["weight_grad"] for p in parts]), wgrad, atol=1e-5)
    # the run of 2 ranks saved the whole classifier and resumes in one process
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["model"]["head.weight"].shape == (7, 128) and ckpt["meta"]["world_size"] == 2
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = standin_config(epochs=2, batch_size=128, pairs_per_fold=20)
    run1 = train_face("digits", cfg, tmp_path / "run", resume=True, desc="resumed")
    resumed = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert [row["world_size"] for row in resumed["history"]] == [2, 1]
    assert resumed["history"][0] == ckpt["history"][0]
    assert not torch.equal(resumed["model"]["head.weight"], ckpt["model"]["head.weight"])
    assert 0.0 <= run1.result["verification"]["accuracy"] <= 1.0
