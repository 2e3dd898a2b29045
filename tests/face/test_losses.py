import math

import pytest
import torch
import torch.nn.functional as F

from nivalis.errors import UserError
from nivalis.face.losses import ArcFaceHead, CosFaceHead, SoftmaxHead, build_head


def _head(cls, **kw):
    head = cls(2, 3, **kw)
    with torch.no_grad():  # class directions at 0°, 90°, 180°
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]))
    return head


def test_arcface_logits_equal_a_hand_computation():
    head = _head(ArcFaceHead)
    assert (head.scale, head.margin) == (64.0, 0.5)
    # embedding at 30° (scaled: the head normalises), label 0: θ = π/6 → target s·cos(π/6 + 0.5)
    x = torch.tensor([[2 * math.cos(math.pi / 6), 2 * math.sin(math.pi / 6)]])
    logits = head(x, torch.tensor([0]))
    expected = 64 * torch.tensor([math.cos(math.pi / 6 + 0.5), math.cos(math.pi / 3), -math.cos(math.pi / 6)])
    assert torch.allclose(logits[0], expected.float(), atol=1e-4)


def test_arcface_beyond_pi_minus_m_uses_the_linear_branch():
    head = _head(ArcFaceHead)
    # embedding at 170°, label 0: θ + m > π → cos θ − m·sin m
    t = math.radians(170)
    logits = head(torch.tensor([[math.cos(t), math.sin(t)]]), torch.tensor([0]))
    assert logits[0, 0].item() == pytest.approx(64 * (math.cos(t) - 0.5 * math.sin(0.5)), abs=1e-3)
    easy = ArcFaceHead(2, 3, easy_margin=True)
    easy.load_state_dict(head.state_dict())
    assert easy(torch.tensor([[math.cos(t), math.sin(t)]]), torch.tensor([0]))[0, 0].item() == pytest.approx(
        64 * math.cos(t), abs=1e-3)


def test_cosface_and_softmax_and_shapes():
    x = torch.tensor([[1.0, 1.0]])
    cos = torch.tensor([math.cos(math.pi / 4), math.cos(math.pi / 4), -math.cos(math.pi / 4)])
    cosface = _head(CosFaceHead)(x, torch.tensor([1]))
    assert torch.allclose(cosface[0], 64 * (cos - torch.tensor([0.0, 0.35, 0.0])), atol=1e-4)
    assert torch.allclose(_head(SoftmaxHead)(x, torch.tensor([1]))[0], 64 * cos, atol=1e-4)
    for loss in ("arcface", "cosface", "softmax"):
        head = build_head(loss, 16, 7)
        emb = F.normalize(torch.randn(5, 16), dim=1)
        labels = torch.randint(0, 7, (5,))
        logits = head(emb, labels)
        assert logits.shape == (5, 7)
        F.cross_entropy(logits, labels).backward()
        assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all()
        # without labels (prediction) no margin: every head gives s·cos θ
        assert torch.allclose(head(emb), 64 * head.cosine(emb))
    with pytest.raises(UserError):
        build_head("triplet", 4, 2)


def test_label_minus_one_gets_no_margin():
    head = build_head("arcface", 4, 3)
    emb = torch.randn(2, 4)
    assert torch.allclose(head(emb, torch.tensor([-1, -1])), head(emb))
