"""Per-model default configuration (timm's `pretrained_cfg`): native input, classes, normalisation, weights source.

One row per registered model, kept as data. `weights` names the published model whose parameters the
architecture reproduces (`torchvision:resnet50`, `timm:inception_resnet_v2`) and `file` the file that source
distributes; `nivalis.models.weights` reads that file from a local path (nothing is downloaded). Models
without a published counterpart (the seed networks, LeNet-5, U-Net, the face backbones) have `weights=None`
and no normalisation of their own (`mean`/`std` None: the data set's applies).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from nivalis.models.efficientnet import PHI, CompoundScaling
from nivalis.models.registry import _MODELS, model_family

__all__ = ["DefaultCfg", "default_cfg", "IMAGENET_MEAN", "IMAGENET_STD", "INCEPTION_MEAN", "INCEPTION_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # TF-slim Inception weights scale pixels to [-1, 1]
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class DefaultCfg:
    """What a model expects by default.

    Attributes:
        input_size: (C, H, W) the architecture (and its published weights) was designed for.
        num_classes: classifier outputs of the default build (0: embedding model).
        mean, std: per-channel input normalisation of the published weights (None: none of its own).
        interpolation: resize filter of the reference's evaluation transform.
        classifier: dotted path of the class layer (the family's `classifier_name`).
        weights: "torchvision:NAME" / "timm:NAME" of the published counterpart, or None.
        file: the weights file that source distributes (what `--pretrained` expects), or None.
    """

    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000
    mean: tuple[float, ...] | None = IMAGENET_MEAN
    std: tuple[float, ...] | None = IMAGENET_STD
    interpolation: str = "bilinear"
    classifier: str = "fc"
    weights: str | None = None
    file: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_IMAGENET = DefaultCfg()
_SMALL = DefaultCfg(input_size=(3, 32, 32), num_classes=10, mean=None, std=None, classifier="classifier")


def _tv(name: str, file: str, classifier: str = "fc", **kw) -> DefaultCfg:
    return replace(_IMAGENET, classifier=classifier, weights=f"torchvision:{name}", file=file, **kw)


_CFGS: dict[str, DefaultCfg] = {
    "alexnet": _tv("alexnet", "alexnet-owt-7be5be79.pth", "classifier.6"),
    "allcnn_c": replace(_SMALL, classifier="features.19"),
    "allcnn_imagenet": replace(_IMAGENET, mean=None, std=None, classifier="features.23"),
    "convnext_tiny": _tv("convnext_tiny", "convnext_tiny-983f1562.pth", "head"),
    "convnext_small": _tv("convnext_small", "convnext_small-0c510722.pth", "head"),
    "densenet121": _tv("densenet121", "densenet121-a639ec97.pth", "classifier"),
    "densenet169": _tv("densenet169", "densenet169-b2777c0a.pth", "classifier"),
    "densenet201": _tv("densenet201", "densenet201-c1103571.pth", "classifier"),
    "efficientnet_b0": _tv("efficientnet_b0", "efficientnet_b0_rwightman-7f5810bc.pth", "classifier",
                           interpolation="bicubic"),
    "googlenet": _tv("googlenet", "googlenet-1378be20.pth"),
    "inception_v3": _tv("inception_v3", "inception_v3_google-0cc3c7bd.pth", input_size=(3, 299, 299)),
    "inception_resnet_v2": replace(_IMAGENET, input_size=(3, 299, 299), mean=INCEPTION_MEAN, std=INCEPTION_STD,
                                   interpolation="bicubic", weights="timm:inception_resnet_v2.tf_in1k",
                                   file="model.safetensors (timm/inception_resnet_v2.tf_in1k)"),
    "lenet5": DefaultCfg(input_size=(1, 32, 32), num_classes=10, mean=None, std=None, classifier="classifier.5"),
    "mobilenet_v1": replace(_IMAGENET, classifier="classifier", interpolation="bicubic",
                            weights="timm:mobilenetv1_100"),
    "mobilenet_v2": _tv("mobilenet_v2", "mobilenet_v2-b0353104.pth", "classifier"),
    "mobilenet_v3_large": _tv("mobilenet_v3_large", "mobilenet_v3_large-8738ca79.pth", "classifier"),
    "mobilenet_v3_small": _tv("mobilenet_v3_small", "mobilenet_v3_small-047dcff4.pth", "classifier"),
    "repvgg_a0": replace(_IMAGENET, weights="timm:repvgg_a0"),
    "repvgg_a1": replace(_IMAGENET, weights="timm:repvgg_a1"),
    "repvgg_b0": replace(_IMAGENET, weights="timm:repvgg_b0"),
    "resnet18": _tv("resnet18", "resnet18-f37072fd.pth"),
    "resnet34": _tv("resnet34", "resnet34-b627a593.pth"),
    "resnet50": _tv("resnet50", "resnet50-0676ba61.pth"),
    "resnet101": _tv("resnet101", "resnet101-63fe2227.pth"),
    "resnet152": _tv("resnet152", "resnet152-394f9c45.pth"),
    "resnext50_32x4d": _tv("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth"),
    "wide_resnet50_2": _tv("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth"),
    "seresnet18": replace(_IMAGENET, weights="timm:seresnet18"),
    "seresnet50": replace(_IMAGENET, interpolation="bicubic", weights="timm:seresnet50"),
    "seresnext50_32x4d": replace(_IMAGENET, interpolation="bicubic", weights="timm:seresnext50_32x4d"),
    "shufflenet_v1_g3": _IMAGENET,
    "shufflenet_v1_g8": _IMAGENET,
    "shufflenet_v2_x0_5": _tv("shufflenet_v2_x0_5", "shufflenetv2_x0.5-f707e7126e.pth"),
    "shufflenet_v2_x1_0": _tv("shufflenet_v2_x1_0", "shufflenetv2_x1-5666bf0f80.pth"),
    "shufflenet_v2_x2_0": _IMAGENET,
    "unet": DefaultCfg(input_size=(1, 256, 256), num_classes=2, mean=None, std=None, classifier="head"),
    "vgg11": _tv("vgg11", "vgg11-8a719046.pth", "classifier.6"),
    "vgg11_bn": _tv("vgg11_bn", "vgg11_bn-6002323d.pth", "classifier.6"),
    "vgg13": _tv("vgg13", "vgg13-19584684.pth", "classifier.6"),
    "vgg16": _tv("vgg16", "vgg16-397923af.pth", "classifier.6"),
    "vgg16_bn": _tv("vgg16_bn", "vgg16_bn-6c64b313.pth", "classifier.6"),
    "vgg19": _tv("vgg19", "vgg19-dcbb9e9d.pth", "classifier.6"),
    "vgg19_bn": _tv("vgg19_bn", "vgg19_bn-c79401a0.pth", "classifier.6"),
}

# EfficientNet B1-B7: the resolution of the compound rule (B4-B7 differ from the released models, see
# `nivalis.models.efficientnet`, so no published weights are named for them).
for _variant, _phi in PHI.items():
    if _variant != "b0":
        _side = CompoundScaling().coefficients(_phi)[2]
        _CFGS[f"efficientnet_{_variant}"] = replace(_IMAGENET, input_size=(3, _side, _side), classifier="classifier",
                                                    interpolation="bicubic")
# The face backbones (ArcFace LResNet-E-IR) read aligned 112×112 crops and end in a 512-d embedding.
for _name in ("lresnet34e_ir", "lresnet50e_ir", "lresnet100e_ir"):
    _CFGS[_name] = DefaultCfg(input_size=(3, 112, 112), num_classes=0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                              classifier="classifier")


def _seed003_cfg(name: str) -> DefaultCfg:
    from nivalis.models.effnet import SETTINGS

    data = next(d for d in SETTINGS if f"_{d}" in name)
    return replace(_SMALL, num_classes=SETTINGS[data].num_classes)


def default_cfg(name: str) -> DefaultCfg:
    """The default configuration of registered model `name` (unknown name → UserError).

    A model registered without a row here (a user's own builder) gets 3×224×224, 1000 classes, no
    normalisation and no published weights.
    """
    family = model_family(name)
    if name in _CFGS:
        return _CFGS[name]
    if family == "effnet":
        return _seed003_cfg(name)
    return replace(_IMAGENET, mean=None, std=None, classifier="")


def models_without_cfg() -> list[str]:
    """Registered names without a row of their own (empty when every zoo model has one)."""
    return [n for n in sorted(_MODELS) if n not in _CFGS and model_family(n) != "effnet"]
