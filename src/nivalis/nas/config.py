"""Every setting of a NAR search (seed 004) in one dataclass with the seed's values, and the CLI's search budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nivalis.config import config_from_dict, config_to_dict
from nivalis.errors import UserError
from nivalis.models import model_family
from nivalis.nas.operators import SEED_CANDIDATES
from nivalis.nas.space import GRANULARITIES, parse_candidates

REWARDS = ("acc", "acc-flops", "acc-latency")
STRATEGIES = ("controller", "random")


@dataclass
class NARConfig:
    """Every setting of a NAR search; defaults are the seed's values unless marked otherwise."""

    # search space (§3.1)
    backbone: str = "resnet18"
    granularity: str = "block"            # "block" = ResNet-18-8, "layer" = ResNet-18-16 (§4.2.2)
    candidates: tuple[int, ...] = SEED_CANDIDATES  # conv3×3, dw3×3, max3×3, avg3×3 (§3.1, Table 1)
    param_rule: bool = True               # "no more parameters than the architecture operators" (§3.1)
    width: float = 1.0                    # channel multiplier of the backbone (ours; 1.0 = the published net)
    stem: str = "auto"                    # ResNet stem: auto → "cifar" for inputs ≤ 64 px (ours)
    # proxy task (§4.1.1: 40 images per identity, 36 proxy-train + 4 proxy-valid, over 4k identities). Ours: 60
    # per class, 40 + 20, because 10-class data would leave 40 validation images, rewards in steps of 2.5 pt;
    # with the seed's split the controller's policy stayed uniform over 600 steps on digits (no signal)
    proxy_per_class: int = 60
    proxy_val_per_class: int = 20
    # shared weights (§4.1.1: SGDR, T_0 = 10, T_mult = 2, lr 0.1 → 0.0001, 150 epochs)
    epochs: int = 150
    pretrain_epochs: int = 0              # "-PreTrain": uniform paths before searching (§3.2)
    lr_max: float = 0.1
    lr_min: float = 1e-4
    sgdr_t0: int = 10
    sgdr_t_mult: int = 2
    momentum: float = 0.9                 # ENAS child SGD, Nesterov
    weight_decay: float = 2.5e-4          # ENAS macro child l2
    batch_size: int = 64
    # proxy training augmentation: none (as the retraining, nivalis's classification protocol), "shift" (ENAS's
    # pad 4 + random crop) or "shift+flip"; on digits (width 0.25) "shift" left the controller without signal
    augment: str = "none"
    # controller (ENAS macro search, Pham et al. 2018)
    controller_hidden: int = 64
    # ours: 5e-3 (ENAS macro: 1e-3, which left the policy uniform over this CLI's ~50-300 updates; see
    # benchmarks/nar_mitigations.py)
    controller_lr: float = 5e-3
    tanh_constant: float = 1.5
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.99
    controller_steps: int = 50            # updates per epoch (ENAS controller_train_steps)
    samples_per_update: int = 20          # children per update (ENAS controller_num_aggregate, NNI's 20)
    reward_batch_size: int = 64           # proxy-valid images per reward
    derive_samples: int = 10
    # beyond the seed: against the collapse onto parameter-free operators (ours)
    sample_floor: float = 0.05            # ε: shared-weight paths from (1 − Kε)π + ε, every operator keeps training
    derive_finetune_steps: int = 20       # SGD steps on each derived candidate alone before it is compared
    # ours, after FairNAS (Chu et al. 2019): every shared-weight step (-PreTrain and between controller updates)
    # takes a strictly fair path, so no operator trains more often than another whatever the policy prefers:
    # parameter-free pooling fits fastest early, and a policy that samples it more trains it more (the collapse)
    fair_sampling: bool = True
    # ours: advantages divided by the update's reward spread, so the controller's step does not vanish as the
    # rewards of one minibatch bunch together (ENAS: False)
    normalize_reward: bool = True
    # ours: children of one update evaluated in one pass sharing their common prefix (same rewards, less time)
    shared_prefix: bool = True
    # beyond the seed
    reward: str = "acc"                   # acc | acc-flops | acc-latency
    cost_exponent: float = -0.07          # β: w of the cost term above the target (MnasNet)
    cost_exponent_below: float | None = None  # α: w at or below the target (None: β, MnasNet's soft form)
    cost_target: float = 1.0              # T as a ratio of the original's cost
    strategy: str = "controller"          # controller | random (same budget)
    seed: int = 0
    precision: str = "fp32"
    pretrained: str | None = None         # trained backbone weights the supernet starts from (`Supernet.load_backbone`)

    def __post_init__(self) -> None:
        self.candidates = parse_candidates(self.candidates)
        if self.granularity not in GRANULARITIES:
            raise UserError(f"unknown granularity {self.granularity!r} (block or layer)")
        if self.reward not in REWARDS:
            raise UserError(f"unknown reward {self.reward!r} ({', '.join(REWARDS)})")
        if self.strategy not in STRATEGIES:
            raise UserError(f"unknown strategy {self.strategy!r} ({', '.join(STRATEGIES)})")
        if self.augment not in ("none", "shift", "shift+flip"):
            raise UserError(f"unknown augmentation {self.augment!r} (none, shift, shift+flip)")
        if self.precision not in ("fp32", "bf16"):
            raise UserError(f"unknown precision {self.precision!r} (fp32, bf16)")
        if self.stem not in ("auto", "cifar", "imagenet"):
            raise UserError(f"unknown stem {self.stem!r} (auto, cifar, imagenet)")
        for name in ("epochs", "proxy_per_class", "proxy_val_per_class", "batch_size", "reward_batch_size",
                     "derive_samples", "sgdr_t0", "sgdr_t_mult"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.pretrain_epochs < 0 or self.controller_steps < 0 or self.derive_finetune_steps < 0:
            raise UserError("pretrain-epochs, controller-steps and derive-finetune-steps must not be negative")
        if self.samples_per_update < 1:
            raise UserError(f"samples-per-update must be at least 1, got {self.samples_per_update}")
        if not 0.0 <= self.sample_floor <= 0.5:
            raise UserError(f"sample-floor must be in [0, 0.5] (a probability per operator), got {self.sample_floor}")
        if self.cost_target <= 0:
            raise UserError(f"cost-target must be a positive ratio of the original's cost, got {self.cost_target}")
        if self.proxy_val_per_class >= self.proxy_per_class:
            raise UserError("proxy-val-per-class must be smaller than proxy-per-class")
        check_width(self.width)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NARConfig:
        return config_from_dict(cls, d)


#: the widest channel multiplier accepted: ResNet-50 at this width has ~10^12 parameters, far beyond any memory here
MAX_WIDTH = 64.0
#: `--quick`'s defaults where the command line leaves them: ResNet-18 at half width (a quarter of the MACs) and
#: 10 fine-tune steps per derived candidate, so the quick search takes minutes on a 2-core CPU
QUICK_WIDTH = 0.5
QUICK_DERIVE_FINETUNE_STEPS = 10
#: `--quick`'s digits side where `--image-size` is not given: the 8×8 scans upsampled to 16 px, not the reader's
#: 32 px (a quarter of the activations; the scans hold no detail that 32 px would add)
QUICK_DIGITS_SIZE = 16


def check_width(width: float) -> float:
    """A channel multiplier in (0, `MAX_WIDTH`], else a UserError (an absurd width must not reach the builder)."""
    if not width > 0 or width != width:
        raise UserError(f"width must be positive, got {width}")
    if width > MAX_WIDTH:
        raise UserError(f"width {width:g} is beyond {MAX_WIDTH:g} (no memory here holds such a network)")
    return width


def budget(quick: bool) -> dict[str, Any]:
    """The CLI's search budget on this 2-core CPU (the seed's 150 epochs on 160k faces took 10 GPU hours).

    Full: 10 uniform pre-training + 60 search epochs, so SGDR (T_0 = 10, T_mult = 2) ends exactly at
    the end of its third cycle (10 + 20 + 40 = 70), ENAS's baseline decay 0.99 over 300 controller
    updates. Quick: 1 + 9 epochs, i.e. the seed's first SGDR cycle (T_0 = 10) only, and a baseline decay
    of 0.9 so the baseline follows the rising reward within its 45 updates, at width `QUICK_WIDTH` with
    `QUICK_DERIVE_FINETUNE_STEPS` (`budget_config` applies those two only where not given). Both take 5
    updates per epoch of `samples_per_update` (20) children each, instead of ENAS's 50.
    """
    if quick:
        return {"pretrain_epochs": 1, "epochs": 9, "sgdr_t0": 10, "controller_steps": 5, "derive_samples": 6,
                "baseline_decay": 0.9}
    return {"pretrain_epochs": 10, "epochs": 60, "sgdr_t0": 10, "controller_steps": 5, "derive_samples": 10}


#: the shared weights "fit" the proxy task when the original path scores at least this share of the way from chance
#: to 1 on proxy validation; below it the rewards are mostly noise and the policy drifts (benchmarks/nar_face.py)
PROXY_FIT_SHARE = 0.25


def proxy_fit(accuracy: float, num_classes: int) -> tuple[dict[str, float], list[str]]:
    """How well the shared weights fit the proxy task (the original path's proxy-validation accuracy against chance),
    and a warning when the rewards the controller learned from were mostly noise."""
    chance = 1.0 / max(num_classes, 1)
    fit = {"original_path_accuracy": round(accuracy, 5), "chance": round(chance, 5)}
    if accuracy >= chance + PROXY_FIT_SHARE * (1.0 - chance):
        return fit, []
    return fit, [f"the shared weights barely fit the proxy task: the original path scores {accuracy:.2f} on proxy "
                 f"validation against {chance:.2f} by chance, so the controller learned from rewards that are mostly "
                 "noise and may have settled on whatever scored well by luck; give the search more epochs (--epochs) "
                 "or more images per class (--proxy-per-class)"]


def budget_config(quick: bool = False, *, epochs: int | None = None, pretrain_epochs: int | None = None,
                  controller_steps: int | None = None, **settings: Any) -> NARConfig:
    """A `NARConfig` on the CLI's search budget (`budget(quick)`): `epochs`, `pretrain_epochs` and
    `controller_steps` replace the preset's where given (None keeps it); every other setting is passed on
    (`width` and `derive_finetune_steps` of None: the quick preset's, else NARConfig's)."""
    preset = budget(quick)
    if quick:
        for key, value in (("width", QUICK_WIDTH), ("derive_finetune_steps", QUICK_DERIVE_FINETUNE_STEPS)):
            if settings.get(key) is None:
                settings[key] = value
    settings = {k: v for k, v in settings.items() if not (k in ("width", "derive_finetune_steps") and v is None)}
    for key, value in (("epochs", epochs), ("pretrain_epochs", pretrain_epochs),
                       ("controller_steps", controller_steps)):
        if value is not None:
            preset[key] = value
    return NARConfig(**preset, **settings)


def model_kwargs_for(config: NARConfig, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Backbone keywords for the data: ResNet stem and width, or the IR net's input size."""
    family = model_family(config.backbone)
    kwargs: dict[str, Any] = {}
    if config.width != 1.0:
        kwargs["width_mult"] = config.width
    if family == "resnet":
        stem = config.stem if config.stem != "auto" else ("cifar" if max(input_shape[1:]) <= 64 else "imagenet")
        kwargs["stem"] = stem
    elif family == "iresnet":
        if input_shape[1] != input_shape[2] or input_shape[1] % 16:
            raise UserError(f"{config.backbone} needs square inputs with a side divisible by 16, "
                            f"got {input_shape[1]}x{input_shape[2]}")
        kwargs["input_size"] = input_shape[1]
    return kwargs


__all__ = ["MAX_WIDTH", "PROXY_FIT_SHARE", "QUICK_DERIVE_FINETUNE_STEPS", "QUICK_DIGITS_SIZE", "QUICK_WIDTH",
           "REWARDS", "STRATEGIES", "NARConfig", "budget", "check_width", "budget_config", "model_kwargs_for",
           "proxy_fit"]
