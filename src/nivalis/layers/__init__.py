"""Building blocks shared by every model family, one concept per file."""

from nivalis.layers.classifier import ClassifierHead, ClassifierMixin, get_classifier
from nivalis.layers.conv_bn_act import ConvBnAct, make_activation
from nivalis.layers.convnext_block import ConvNeXtBlock
from nivalis.layers.dense import DenseLayer, Transition, dense_block
from nivalis.layers.depthwise_separable import DepthwiseSeparableConv
from nivalis.layers.drop import DropPath
from nivalis.layers.helpers import make_divisible
from nivalis.layers.inverted_residual import InvertedResidual
from nivalis.layers.norm import LayerNorm2d
from nivalis.layers.repvgg_block import RepVGGBlock
from nivalis.layers.residual import BasicBlock, Bottleneck, conv3x3_bn
from nivalis.layers.shuffle import ChannelShuffle, ShuffleV1Unit, ShuffleV2Unit, channel_shuffle
from nivalis.layers.squeeze_excite import SqueezeExcite

__all__ = ["BasicBlock", "Bottleneck", "ChannelShuffle", "ClassifierHead", "ClassifierMixin", "ConvBnAct",
           "ConvNeXtBlock", "DenseLayer",
           "DepthwiseSeparableConv", "DropPath", "InvertedResidual", "LayerNorm2d", "RepVGGBlock", "ShuffleV1Unit",
           "ShuffleV2Unit", "SqueezeExcite", "Transition", "channel_shuffle", "conv3x3_bn", "dense_block",
           "get_classifier", "make_activation", "make_divisible"]
