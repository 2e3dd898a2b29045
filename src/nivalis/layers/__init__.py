"""Building blocks shared by every model family, one concept per file."""

from nivalis.layers.conv_bn_act import ConvBnAct, make_activation
from nivalis.layers.drop import DropPath
from nivalis.layers.helpers import make_divisible
from nivalis.layers.residual import BasicBlock, Bottleneck, conv3x3_bn
from nivalis.layers.squeeze_excite import SqueezeExcite

__all__ = ["BasicBlock", "Bottleneck", "ConvBnAct", "DropPath", "SqueezeExcite", "conv3x3_bn", "make_activation",
           "make_divisible"]
