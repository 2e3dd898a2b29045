"""All-convolutional networks (Springenberg et al. 2015; seed 001 "All-convolutional networks removed
max-pooling and fully connected layers").

Max-pooling is replaced by 3×3 convolutions with stride 2 and the fully connected layers by 1×1
convolutions whose class maps are averaged globally before the softmax:

.. math::
    \\hat y_c = \\frac{1}{HW} \\sum_{i,j} \\mathrm{ReLU}(W_c \\cdot h_{:,i,j} + b_c)

* `allcnn_c` — All-CNN-C for CIFAR (paper Table 2): 3×3 conv 96 ×2, 3×3 conv 96 /2, 3×3 conv 192 ×2,
  3×3 conv 192 /2, 3×3 conv 192 (valid), 1×1 conv 192, 1×1 conv classes, 6×6 global average; dropout 20 %
  on the input and 50 % after each stride-2 layer.
* `allcnn_imagenet` — the lecture's ImageNet table (seed 001): conv1 11×11/4 96, 1×1 96, 3×3/2 96, 5×5 256,
  1×1 256, 3×3/2 256, 3×3 384, 1×1 384, 3×3/2 384 + dropout 50 %, 3×3 1024, 1×1 1024, 1×1 classes,
  6×6 global average at 224×224. Stride-1 layers keep the size; stride-2 layers are unpadded, which gives
  the table's 6×6 final grid.

As in both tables the class layer is followed by a ReLU (`final_relu=False` drops it), and there is no
batch norm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn as nn

from nivalis.layers.classifier import ClassifierMixin
from nivalis.models.configs import IMAGENET_CFG, SMALL_CFG
from nivalis.models.registry import register_model

__all__ = ["AllCNN", "ALLCNN_C", "ALLCNN_IMAGENET"]

# (kernel, output channels, stride, padding, dropout after); the last row's width becomes num_classes.
ALLCNN_C: tuple[tuple[int, int, int, int, float], ...] = (
    (3, 96, 1, 1, 0.0), (3, 96, 1, 1, 0.0), (3, 96, 2, 1, 0.5),
    (3, 192, 1, 1, 0.0), (3, 192, 1, 1, 0.0), (3, 192, 2, 1, 0.5),
    (3, 192, 1, 0, 0.0), (1, 192, 1, 0, 0.0), (1, 10, 1, 0, 0.0),
)
ALLCNN_IMAGENET: tuple[tuple[int, int, int, int, float], ...] = (
    (11, 96, 4, 2, 0.0), (1, 96, 1, 0, 0.0), (3, 96, 2, 0, 0.0),
    (5, 256, 1, 2, 0.0), (1, 256, 1, 0, 0.0), (3, 256, 2, 0, 0.0),
    (3, 384, 1, 1, 0.0), (1, 384, 1, 0, 0.0), (3, 384, 2, 0, 0.5),
    (3, 1024, 1, 1, 0.0), (1, 1024, 1, 0, 0.0), (1, 1000, 1, 0, 0.0),
)


class AllCNN(ClassifierMixin, nn.Module):
    """A stack of convolutions (+ReLU) ending in per-class maps and global average pooling.

    Args:
        layers: rows (kernel, channels, stride, padding, dropout after) of the paper's table.
        input_dropout: dropout on the input image (0.2 for All-CNN-C).
        final_relu: keep the ReLU after the class layer, as in the tables.

    Shapes: (N, in_chans, H, W) → (N, num_classes).

    There is no linear classifier to share with the other families (`nivalis.layers.ClassifierHead`): the
    class layer is the last 1×1 convolution of `features` (its path is the instance's `classifier_name`),
    and only a global average follows it.
    """

    def __init__(self, layers: Sequence[tuple[int, int, int, int, float]], num_classes: int = 10, in_chans: int = 3,
                 input_dropout: float = 0.0, final_relu: bool = True):
        super().__init__()
        modules: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout else []
        ch = in_chans
        for i, (k, out, stride, pad, drop) in enumerate(layers):
            last = i == len(layers) - 1
            if last:
                # num_classes=0: no class layer, the pooled maps of the layer before are the features.
                self.num_features, self.num_classes, out = ch, num_classes, num_classes or ch
                self._class_kernel = (k, stride, pad)
                modules.append(self._new_classifier(num_classes))
                self._class_index = len(modules) - 1
                self.classifier_name = f"features.{self._class_index}"
            else:
                modules.append(nn.Conv2d(ch, out, k, stride=stride, padding=pad))
            if not last or final_relu:
                modules.append(nn.ReLU(inplace=True))
            if drop:
                modules.append(nn.Dropout(drop))
            ch = out
        self.features = nn.Sequential(*modules)
        self.pool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def _new_classifier(self, num_classes: int) -> nn.Module:
        k, stride, pad = self._class_kernel
        if not num_classes:
            return nn.Identity()
        return nn.Conv2d(self.num_features, num_classes, k, stride=stride, padding=pad)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The maps of the last hidden layer (the class layer sits inside `features`; it belongs to the head)."""
        return self.features[:self._class_index](x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Class layer (+ its ReLU) → global average; `pre_logits` averages the hidden maps instead."""
        return self.pool(x if pre_logits else self.features[self._class_index:](x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def allcnn_c(num_classes: int = 10, in_chans: int = 3, **kwargs) -> AllCNN:
    kwargs.setdefault("input_dropout", 0.2)
    return AllCNN(ALLCNN_C, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def allcnn_imagenet(num_classes: int = 1000, in_chans: int = 3, **kwargs) -> AllCNN:
    return AllCNN(ALLCNN_IMAGENET, num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {
    "allcnn_c": replace(SMALL_CFG, classifier="features.19"),
    "allcnn_imagenet": replace(IMAGENET_CFG, mean=None, std=None, classifier="features.23"),
}
