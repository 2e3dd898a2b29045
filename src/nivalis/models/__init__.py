"""The model zoo: `create_model(name, num_classes=..., in_chans=...)` and `list_models()`.

Importing this package imports every family module so that their `@register_model`
builders are in the registry.
"""

from nivalis.models import (  # noqa: F401  (registers)  # noqa: F401,E402
                            alexnet,
                            allcnn,
                            convnext,
                            densenet,
                            efficientnet,
                            effnet,
                            inception,
                            iresnet,
                            lenet,
                            mobilenet,
                            repvgg,
                            resnet,
                            senet,
                            shufflenet,
                            unet,
                            vgg,
)
from nivalis.models.configs import DefaultCfg, default_cfg
from nivalis.models.registry import list_models, model_family, register_model
from nivalis.models.weights import create_model, load_pretrained  # create_model + pretrained=PATH

__all__ = ["DefaultCfg", "create_model", "default_cfg", "list_models", "load_pretrained", "model_family",
           "register_model"]
