"""`nivalis avalanche`: simulate scenes, train window classifiers, map whole images, evaluate, colour histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.avalanche.config import AvalancheConfig as _Cfg  # defaults come from the config (seed 002)
from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup
from nivalis.files import prepare_output_dir

app = typer.Typer(help="Avalanche mapping in satellite images (seed 002, CAIC): a window CNN evaluated densely "
                       "over whole scenes, GeoTIFF/GeoJSON outputs.", no_args_is_help=True)

RefineOpt = Annotated[str, typer.Option(help="none (dense map ≥ threshold), edges (seed §4.2: Canny + second "
                                             "prediction + max filter) or xgb (XGBoost head, needs --xgb-head).")]
ThresholdOpt = Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Probability threshold of the mask "
                                                   "[default: the one calibrated at training].")]
LabelsOpt = Annotated[Path | None, typer.Option(help="Avalanche polygons (GeoJSON, GeoPackage, Shapefile) for every "
                                                   "image, rasterised onto each image's grid (reprojected from "
                                                   "their CRS) instead of masks/.")]
BandsOpt = Annotated[str | None, typer.Option(help="Bands to read: 1-based indices (1,2,3) or names from the band "
                                              "descriptions (red,green,blue,nir) [default: gray/RGB, or the bands "
                                              "described red, green, blue; predict/evaluate: the model's].")]
PrecisionOpt = Annotated[str, typer.Option(help="fp32, or bf16 (CPU autocast: faster only where the CPU has "
                                               "native bf16 convolutions; benchmarks/avalanche_throughput.py "
                                               "measures its speed and its effect on the map).")]


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write images/, references/, masks/ and scenes.json.")],
    scenes: Annotated[int, typer.Option(min=1, help="Number of scenes (the seed had 60).")] = _Cfg.scenes,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    size: Annotated[int, typer.Option(min=64, help="Scene side in pixels (2 m each).")] = 256,
    image_format: Annotated[str, typer.Option(
        "--format", help="mixed (JPEG, every 4th an RGB GeoTIFF) or geotiff16 (4-band uint16 B,G,R,NIR GeoTIFFs, "
                         "nodata=0 border).")] = "mixed",
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write simulated avalanche scenes in the seed's layout (every 4th one a UTM GeoTIFF)."""
    setup(quiet)
    from nivalis.avalanche.simulate import simulate_folder

    emit(simulate_folder(out, scenes=scenes, seed=seed, size=size, image_format=image_format), as_json)


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Scene folder with images/ and masks/ (seed layout).")],
    model: Annotated[str, typer.Option("--model", "-m", help="cnn, cnn1d, or a zoo backbone (vgg16, resnet50, "
                                                             "inception_resnet_v2, ...).")] = "cnn",
    window: Annotated[int | None, typer.Option(min=3, help="Window side h: 17 or 33 (seed §3.2) [default: 33; 76 for "
                                                          "inception_resnet_v2; the tile side, 32, for unet].")] = None,
    channels: Annotated[int | None, typer.Option(min=1, help="1 (gray, from RGB) or the number of bands read "
                                                          "[default: 3, or the --bands count].")] = None,
    bands: BandsOpt = None,
    labels: LabelsOpt = None,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs (seed: 5).")] = _Cfg.epochs,
    windows_per_epoch: Annotated[int, typer.Option(min=64, help="Class-balanced windows drawn per epoch.")] = (
        _Cfg.windows_per_epoch),
    optimizer: Annotated[str, typer.Option(help="adam or rmsprop (seed §3.1).")] = "adam",
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate (seed: 1e-3).")] = _Cfg.lr,
    batch_size: Annotated[int, typer.Option(min=1)] = _Cfg.batch_size,
    seed: Annotated[int, typer.Option(help="Seed for weights, splits and window draws.")] = 0,
    precision: PrecisionOpt = "fp32",
    pyramid_levels: Annotated[int, typer.Option(min=0, max=4, help="Train (and later map) on Gaussian-pyramid level L "
                                                                 "of the scenes, each level halving H and W (seed "
                                                                 "§3.2); 0 = full resolution.")] = 0,
    xgb_head: Annotated[bool, typer.Option("--xgb-head", help="Also fit the XGBoost head (seed §3.3) on the "
                                                              "validation scenes.")] = False,
    pretrained: Annotated[Path | None, typer.Option(help="Weights of the zoo backbone (torchvision .pth, timm "
                                                         ".pth/.safetensors or a nivalis checkpoint, e.g. "
                                                         "resnet50-0676ba61.pth): the model is cut at stride 8 and "
                                                         "classifies by its centre feature, densely.")] = None,
    freeze_backbone: Annotated[bool, typer.Option("--freeze-backbone", help="Keep the backbone's weights: its "
                                                  "features are computed once and only the head is trained.")] = False,
    out: Annotated[Path | None, typer.Option(help="Run folder [default: runs/avalanche-MODEL-WxWxC].")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a window classifier; accuracy/loss on class-balanced windows of held-out test scenes."""
    setup(quiet)
    from nivalis.avalanche.train import train_from_options

    cfg = _Cfg(epochs=epochs, windows_per_epoch=windows_per_epoch, optimizer=optimizer, lr=lr, batch_size=batch_size,
               seed=seed, precision=precision, pyramid_levels=pyramid_levels)
    run = train_from_options(data, model, window=window, channels=channels, bands=bands, labels=labels, config=cfg,
                             out_dir=out, xgb_head=xgb_head, pretrained=pretrained, freeze_backbone=freeze_backbone)
    emit(run.result, as_json)


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="JPEG, PNG or GeoTIFF image; or several, folders, globs, a "
                                                      "list .txt (one path a line) or a local STAC .json (a batch: "
                                                      "OUT/scenes/<id>/, manifest.json, mosaic.vrt, "
                                                      "avalanches.gpkg).")],
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt from `nivalis avalanche train`.")],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("avalanche-out"),
    refine: RefineOpt = "none",
    threshold: ThresholdOpt = None,
    precision: PrecisionOpt = "fp32",
    tile: Annotated[int | None, typer.Option(min=16, help="Output tile side of the dense pass (memory bound) "
                                                          "[default: from the model's reach].")] = None,
    min_area: Annotated[int, typer.Option(min=1, help="Smallest polygon kept, in pixels.")] = 16,
    simplify: Annotated[float, typer.Option(min=0.0, help="Straighten polygon outlines: Douglas–Peucker tolerance "
                                                          "in metres (pixels without georeferencing); 0 = exact "
                                                          "pixel edges.")] = 0.0,
    bands: BandsOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Batch: skip scenes the manifest in OUT records as done "
                                                          "with the same input and checkpoint content.")] = False,
    asset: Annotated[str | None, typer.Option(help="STAC: the asset key to map [default: the item's only image "
                                                   "asset].")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Map every pixel: probability GeoTIFF, mask GeoTIFF, overlay PNG, avalanche polygons (GeoJSON, GeoPackage).

    A batch exits 1 when some scenes failed, 2 when all did (each reason is in the manifest and the JSON's
    `failed`). Under `torchrun -m nivalis avalanche predict ...` the scenes are shared among the ranks."""
    setup(quiet)
    from nivalis.avalanche.batch import exit_code, predict_paths

    out = prepare_output_dir(out)
    result = predict_paths(images, checkpoint, out, refine=refine, threshold=threshold, precision=precision,
                           tile=tile, min_area_px=min_area, bands=bands, simplify_m=simplify, resume=resume,
                           asset=asset)
    emit(result, as_json)
    code = exit_code(result)
    if code:
        raise typer.Exit(code)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Scene folder with images/ and masks/.")],
    checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt from `nivalis avalanche train`.")],
    split: Annotated[str, typer.Option(help="all scenes of DATA, or the checkpoint's train/val/test split.")] = "all",
    refine: RefineOpt = "none",
    threshold: ThresholdOpt = None,
    precision: PrecisionOpt = "fp32",
    bands: BandsOpt = None,
    labels: LabelsOpt = None,
    min_area: Annotated[int, typer.Option(min=1, help="Smallest object, in pixels: the objects scored are the "
                                                      "polygons `predict --min-area` delivers.")] = 16,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Pixel (pixel_*) and object (object_*: avalanches detected at 50/70/80 % coverage, false alarms) scores."""
    setup(quiet)
    from nivalis.avalanche.predict import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, data, split=split, refine=refine, threshold=threshold, precision=precision,
                                 bands=bands, labels=labels, min_area_px=min_area)

    def f(v):
        return "  –  " if v is None else f"{v:.3f}"

    cols = [("pixel_accuracy", "accuracy"), ("pixel_iou", "px_iou"), ("pixel_f1", "px_f1"), ("pixel_pod", "px_pod"),
            ("pixel_ppv", "px_ppv"), ("object_pod", "obj_pod"), ("object_ppv", "obj_ppv"), ("object_f1", "obj_f1")]
    lines = [f"{'image':<24} " + " ".join(f"{h:>8}" for _, h in cols)]
    lines += [f"{r['image']:<24} " + " ".join(f"{f(r[k]):>8}" for k, _ in cols) for r in result["images"]]
    lines.append(f"{'overall':<24} " + " ".join(f"{f(result[k]):>8}" for k, _ in cols))
    lines.append("object scores at 50 % coverage (object_*_70, _80 in --json); pixel ppv/pod are per pixel")
    emit(result, as_json, human="\n".join(lines))


@app.command()
def histogram(
    data: Annotated[Path, typer.Option(help="Scene folder with images/ (RGB).")],
    out: Annotated[Path, typer.Option(help="Output folder for the figure and summary.")] = Path("avalanche-out"),
    per_class: Annotated[int, typer.Option(min=1, help="Images shown per class (the seed showed 4).")] = 4,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """RGB and HSV histograms of sunny vs shady scenes (seed §4.3, Figure 10)."""
    setup(quiet)
    from nivalis.experiments.avalanche_analysis import histogram_folder

    emit(histogram_folder(data, out, per_class=per_class), as_json)
