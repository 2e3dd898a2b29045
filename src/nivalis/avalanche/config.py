"""The avalanche pipeline's one configuration: seed 002's hyper-parameters as defaults, quoted by section."""

from __future__ import annotations

from dataclasses import dataclass, field

from nivalis.config import ConfigDict

#: Binomial 5×5 kernel of the Gaussian pyramid (seed 002 §3.2). The seed prints it with a 1/16
#: factor, but its entries sum to 256; 1/256 (= the outer product of [1 4 6 4 1]/16) is the
#: normalisation that keeps the image's brightness, and the one OpenCV's pyrDown uses.
PYRAMID_KERNEL_1D = (1.0, 4.0, 6.0, 4.0, 1.0)


@dataclass
class AvalancheConfig(ConfigDict):
    """Every knob of the avalanche pipeline in one place; defaults are seed 002's values where it gives one."""

    # --- data (§3.2) ---------------------------------------------------------------------------
    mask_threshold: int = 127          # §3.2: mask value 127 ≤ V ≤ 255 → avalanche (1), else 0
    window: int = 33                   # §3.2: h = w ∈ {17, 33}; IRNv2 uses 76
    channels: int = 3                  # §3.2: depth d ∈ {1 (gray), 3 (RGB)}
    scenes: int = 60                   # §3.2: "each set contains sixty images"
    zoo_windows: dict[str, int] = field(default_factory=lambda: {"inception_resnet_v2": 76})  # §3.2
    positive_fraction: float = 0.5     # class-balanced batches (avalanche pixels are rare)
    windows_per_epoch: int = 8192      # streamed: drawn afresh each epoch, never all materialised
    val_windows: int = 2048
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)  # by scene, so no window leaks across splits

    # --- training (§3.1, §4.1, §5) -------------------------------------------------------------
    optimizer: str = "adam"            # §3.1: "optimizers Adam and RMSProp"
    lr: float = 1e-3                   # §3.1: "a base learning rate of 0.001"
    epochs: int = 5                    # §5: "... out of five epochs"
    batch_size: int = 64
    seed: int = 0
    precision: str = "fp32"            # bf16 autocast is an option, never silent (DESIGN)

    # --- small CNN (§3.1: conv + pooling + normalisation, then fully connected) ------------------
    cnn_widths: tuple[int, ...] = (16, 16, 32, 32)   # two valid 3×3 convs per stage, 2×2 max pool after each stage
    cnn_hidden: int = 32
    dropout: float = 0.25

    # --- dense evaluation ----------------------------------------------------------------------
    tile: int = 512                    # output tile side; input tile = tile + window − 1 (exact overlap)
    threshold: float = 0.5             # §4.2: binary threshold of the probability map

    # --- refinement (§3.2, §4.2) ---------------------------------------------------------------
    # §3.2 shrank images with a Gaussian pyramid (each level halves H and W) to fit windows in memory, and §5
    # blames it for lost edge detail; dense evaluation needs no such reduction, so 0 levels by default
    pyramid_levels: int = 0
    canny_low: int = 50                # §4.2: Canny on the first prediction (OpenCV hysteresis thresholds)
    canny_high: int = 150
    edge_gain: float = 1.5             # unsharp gain applied along the first prediction's edges
    edge_band: int = 5                 # px half-width of the band around those edges that is enhanced
    max_filter: int = 5                # §4.2: "a max value filter and binary threshold"
    xgb_trees: int = 100               # §3.3: XGBoost head on CNN outputs
    xgb_depth: int = 4
    xgb_pixels: int = 20000            # balanced pixels sampled from the training scenes for the head

    # --- segmentation beyond the seed ----------------------------------------------------------
    unet_tile: int = 32
    unet_widths: tuple[int, ...] = (8, 16, 32, 64, 128)  # the paper's 64…1024 (31 M params) is too slow on 2 cores

    # --- analysis (§4.3, §6) -------------------------------------------------------------------
    pca_variance: float = 0.99         # §6: "9 transformed features account for 99% of the variation"
    pca_windows: int = 2000
