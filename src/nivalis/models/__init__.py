"""The model zoo: `create_model(name, num_classes=..., in_chans=...)` and `list_models()`.

Importing this package imports every module in it (`registry.discover_families`), so each family module's
`@register_model` builders, `default_cfgs` and `published_weights` are known without a list kept here.
"""

from nivalis.models.configs import DefaultCfg, default_cfg
from nivalis.models.registry import discover_families, list_models, model_family, register_model
from nivalis.models.weights import create_model, load_pretrained  # create_model + pretrained=PATH

discover_families(__name__)

__all__ = ["DefaultCfg", "create_model", "default_cfg", "discover_families", "list_models", "load_pretrained",
           "model_family", "register_model"]
