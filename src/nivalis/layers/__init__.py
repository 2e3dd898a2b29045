"""Building blocks shared by every model family, one concept per file."""

from nivalis.layers.conv_bn_act import ConvBnAct, make_activation

__all__ = ["ConvBnAct", "make_activation"]
