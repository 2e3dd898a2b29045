"""The model zoo: `create_model(name, num_classes=..., in_chans=...)` and `list_models()`.

Importing this package imports every family module so that their `@register_model`
builders are in the registry.
"""

from nivalis.models.registry import create_model, list_models, model_family, register_model

from nivalis.models import lenet, resnet  # noqa: F401,E402  (registers)
from nivalis.models import (alexnet, allcnn, convnext, densenet, efficientnet, inception,  # noqa: F401,E402
                            mobilenet, repvgg, senet, shufflenet, unet, vgg)
from nivalis.models import iresnet  # noqa: F401,E402  (registers ArcFace's IR face backbones)
from nivalis.models import effnet  # noqa: F401,E402  (registers the seed 003 networks)

__all__ = ["create_model", "list_models", "model_family", "register_model"]
