"""The snow pipeline's one configuration: seed 000's hyper-parameters as defaults, quoted by section."""

from __future__ import annotations

from dataclasses import dataclass

from nivalis.config import ConfigDict
from nivalis.errors import UserError

MODELS = ("lstm", "gcn", "gcn_lstm")  # the order of Table II
DIRECTIONS = ("deep_to_shallow", "shallow_to_deep")


@dataclass
class SnowConfig(ConfigDict):
    """Zalatan & Rahnemoonfar (seed 000) defaults; every field not in the seed says so."""

    feature_layers: int = 10            # §III: ten deep layers (1997–2006) become ten temporal graphs
    target_layers: int = 5              # §III: five shallow layers (2007–2011) are the targets
    columns: int = 256                  # §III: 256 traces (graph nodes) per radargram
    survey_year: int = 2012             # §I: 2012 flights, so the first layer under the surface is 2011
    direction: str = "deep_to_shallow"  # §VI-A.5 suggests the reverse, "shallow_to_deep"
    extra_features: tuple[str, ...] = ()  # §VI-A.2: more node features from the file (Elevation, curr_smb, ...)
    learnable_adjacency: bool = False   # §VI-A.3: a trainable edge-weight matrix on top of the haversine weights
    hidden: int = 64                    # §IV-C: GCN-LSTM layers with 64 output channels
    fc_hidden: int = 32                 # §IV-C: first fully connected layer, 32 channels
    dropout: float = 0.2                # §IV-C: dropout p = 0.2 between the fully connected layers
    activation: str = "hardswish"       # §IV-C: Hardswish between layers
    cheb_k: int = 2                     # not in the seed: K of the Chebyshev filters of PyG Temporal's GConvLSTM,
                                        # the layer the seed cites (Seo et al.); K = 2 as in public implementations
    lr: float = 0.01                    # §IV-C: Adam, constant learning rate 0.01
    epochs: int = 150                   # §IV-C: 150 epochs, mean squared error
    splits: int = 5                     # §III: five random permutations ...
    test_fraction: float = 0.2          # §III: ... split 4:1 (454 train / 114 test of 568)
    batch_size: int = 32                # not in the seed: radargrams per optimiser step (dense batches)
    precision: str = "fp32"             # not in the seed: "bf16" = autocast (faster; effect on RMSE reported)
    device: str = "cpu"                 # not in the seed: cpu | cuda | cuda:N | auto
    seed: int = 0
    models: tuple[str, ...] = MODELS
    baselines: tuple[str, ...] = ("climatology", "ridge")  # not in the seed: what the networks must beat (#21)

    @property
    def rows_needed(self) -> int:
        """Layer rows a radargram needs: surface + targets + features (16 in the seed)."""
        return 1 + self.target_layers + self.feature_layers

    def target_years(self) -> list[str]:
        """Labels of the target layers in the order of the model outputs (oldest first, as Table II)."""
        if self.direction == "deep_to_shallow":
            last = self.survey_year - 1
            return [str(y) for y in range(last - self.target_layers + 1, last + 1)]
        first = self.survey_year - 1 - self.feature_layers
        return [str(y) for y in range(first - self.target_layers + 1, first + 1)]

    def validate(self) -> SnowConfig:
        if self.feature_layers < 1 or self.target_layers < 1:
            raise UserError("feature and target layers must be at least 1")
        if self.direction not in DIRECTIONS:
            raise UserError(f"unknown direction {self.direction!r} ({', '.join(DIRECTIONS)})")
        for name in self.models:
            if name not in MODELS:
                raise UserError(f"unknown snow model {name!r} ({', '.join(MODELS)})")
        for name in self.baselines:
            if name not in ("climatology", "ridge"):
                raise UserError(f"unknown snow baseline {name!r} (climatology, ridge)")
        if self.precision not in ("fp32", "bf16"):
            raise UserError(f"unknown precision {self.precision!r} (fp32, bf16)")
        if not 0 < self.test_fraction < 1:
            raise UserError(f"test fraction must be in (0, 1), got {self.test_fraction}")
        if self.epochs < 1 or self.splits < 1 or self.batch_size < 1:
            raise UserError("epochs, splits and batch size must be at least 1")
        if self.cheb_k < 1:
            raise UserError(f"Chebyshev K must be at least 1, got {self.cheb_k}")
        return self


def snow_config(*, models: str | None = None, extra_features: str = "", **fields) -> SnowConfig:
    """A validated `SnowConfig` from command-line values: `models` and `extra_features` comma-separated, the other
    fields as they are; a given ``device`` is resolved, so a missing GPU fails here, before any data is read."""
    fields["extra_features"] = tuple(x.strip() for x in (extra_features or "").split(",") if x.strip())
    if models:
        fields["models"] = tuple(m.strip() for m in models.split(",") if m.strip())
    cfg = SnowConfig(**fields).validate()
    if "device" in fields:
        from nivalis.engine import resolve_device

        cfg.device = str(resolve_device(cfg.device))
    return cfg


__all__ = ["DIRECTIONS", "MODELS", "SnowConfig", "snow_config"]
