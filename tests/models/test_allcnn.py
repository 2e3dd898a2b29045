import torch

from nivalis.models import create_model
from nivalis.models.allcnn import ALLCNN_C, ALLCNN_IMAGENET

from .conftest import forward_backward, meta_counts


def _table_params(rows, in_chans, num_classes):
    total, ch = 0, in_chans
    for i, (k, out, *_rest) in enumerate(rows):
        out = num_classes if i == len(rows) - 1 else out
        total += ch * out * k * k + out
        ch = out
    return total


def test_params_follow_the_tables():
    assert meta_counts("allcnn_c")[0] == _table_params(ALLCNN_C, 3, 10) == 1_369_738  # paper: "1.3 M"
    assert meta_counts("allcnn_imagenet")[0] == _table_params(ALLCNN_IMAGENET, 3, 1000)


def test_final_grids_are_6x6():
    c = create_model("allcnn_c").eval()
    assert c.features(torch.randn(1, 3, 32, 32)).shape == (1, 10, 6, 6)
    imagenet = create_model("allcnn_imagenet", num_classes=5).eval()
    assert imagenet.features(torch.randn(1, 3, 224, 224)).shape == (1, 5, 6, 6)
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.Linear)) for m in c.modules())


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("allcnn_c", num_classes=10, final_relu=False)
    forward_backward(model, torch.randn(2, 3, 32, 32), (2, 10))
