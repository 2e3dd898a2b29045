"""Per-model default configuration (timm's `pretrained_cfg`): native input, classes, normalisation, weights source.

Each family module keeps its rows as data in `default_cfgs` ({registered name: `DefaultCfg`}), next to its
builders. `weights` names the published model whose parameters the architecture reproduces
(`torchvision:resnet50`, `timm:inception_resnet_v2`) and `file` the file that source distributes;
`nivalis.models.weights` reads that file from a local path (nothing is downloaded). Models without a
published counterpart (the seed networks, LeNet-5, U-Net) have `weights=None` and no normalisation of their
own (`mean`/`std` None: the data set's applies).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from nivalis.models.registry import family_module, list_models

__all__ = ["DefaultCfg", "default_cfg", "IMAGENET_CFG", "IMAGENET_MEAN", "IMAGENET_STD", "INCEPTION_MEAN",
           "INCEPTION_STD", "SMALL_CFG", "torchvision_cfg"]

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
        weights: "torchvision:NAME" / "timm:NAME" / "insightface:NAME" of the published counterpart, or None.
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


#: an ImageNet classifier at 224×224 with ImageNet normalisation
IMAGENET_CFG = DefaultCfg()
#: a 32×32 ten-class network without normalisation of its own (CIFAR-10 / SVHN scale)
SMALL_CFG = DefaultCfg(input_size=(3, 32, 32), num_classes=10, mean=None, std=None, classifier="classifier")


def torchvision_cfg(name: str, file: str, classifier: str = "fc", **kw) -> DefaultCfg:
    """An ImageNet row whose published counterpart is torchvision's `name`, distributed as `file`."""
    return replace(IMAGENET_CFG, classifier=classifier, weights=f"torchvision:{name}", file=file, **kw)


def _row(name: str) -> DefaultCfg | None:
    return getattr(family_module(name), "default_cfgs", {}).get(name)


def default_cfg(name: str) -> DefaultCfg:
    """The default configuration of registered model `name` (unknown name → UserError).

    A model registered without a row in its module's `default_cfgs` (a user's own builder) gets 3×224×224,
    1000 classes, no normalisation and no published weights.
    """
    return _row(name) or replace(IMAGENET_CFG, mean=None, std=None, classifier="")


def models_without_cfg() -> list[str]:
    """Registered names without a row of their own (empty when every zoo model has one)."""
    return [n for n in list_models() if _row(n) is None]
