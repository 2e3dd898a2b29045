"""What a trained window classifier takes as input (its bands, pixel type, channels) and scenes read and checked for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from nivalis.avalanche.io.layout import Scene, fill_scene, load_scene
from nivalis.avalanche.io.raster import BandSelection, RasterHeader, read_header, to_channels
from nivalis.avalanche.models import WindowClassifier
from nivalis.errors import UserError


def model_bands(classifier: WindowClassifier) -> list[str] | None:
    """The band names the model was trained on (None when its training images had undescribed bands)."""
    bands = getattr(classifier, "meta", {}).get("radiometry", {}).get("bands")
    # a 1-channel model trained on RGB (luminance) takes gray or RGB images: no band names to insist on
    return list(bands) if bands and len(bands) == classifier.channels else None


@contextmanager
def _model_bands_hint(classifier: WindowClassifier, selection: BandSelection | None) -> Iterator[None]:
    """A band error of a read that fell back on the model's bands says which bands the model was trained on."""
    try:
        yield
    except UserError as exc:
        expected = model_bands(classifier)
        if selection is not None or not expected or "--bands" not in str(exc):
            raise
        raise UserError(f"the model was trained on {len(expected)} channel(s), bands {','.join(expected)}: {exc}") \
            from None


def _wanted(classifier: WindowClassifier, selection: BandSelection | None) -> BandSelection | None:
    expected = model_bands(classifier)
    return selection if selection is not None or expected is None else BandSelection(tuple(expected))


def check_bands(classifier: WindowClassifier, band_names: tuple[str, ...], dtype: np.dtype, where: str) -> None:
    """A one-line UserError when the bands or pixel type read are not the ones the model was trained on."""
    expected = model_bands(classifier)
    model_dtype = getattr(classifier, "input_dtype", "uint8")
    if expected and band_names and all(band_names) and list(band_names) != expected:
        raise UserError(f"{where} has bands {','.join(band_names)} but the model was trained on "
                        f"{','.join(expected)}: choose them with --bands")
    if np.dtype(dtype).name != model_dtype:
        raise UserError(f"{where} has {np.dtype(dtype)} pixels but the model was trained on {model_dtype} images "
                        "(its normalisation statistics are in those units)")


def check_scene(classifier: WindowClassifier, scene: Scene) -> None:
    """`check_bands` of a loaded scene."""
    check_bands(classifier, scene.band_names, scene.image.dtype, f"image {scene.image_path or scene.name}")


def model_header(classifier: WindowClassifier, ds, path: str | Path, bands: BandSelection | None) -> RasterHeader:
    """The header of an open raster for the bands the model expects (`bands`, else its checkpoint's), checked."""
    with _model_bands_hint(classifier, bands):
        header = read_header(ds, path, _wanted(classifier, bands))
    check_bands(classifier, header.band_names, header.dtype, f"image {path}")
    return header


def load_model_scene(classifier: WindowClassifier, image_path: str | Path, mask_path: str | Path | None = None, *,
                     bands: BandSelection | str | list | None = None, name: str | None = None,
                     threshold: int = 127) -> Scene:
    """Read the bands the model expects (`bands`, else the names stored in its checkpoint) and check them."""
    selection = BandSelection.parse(bands)
    with _model_bands_hint(classifier, selection):
        scene = load_scene(Path(image_path), None if mask_path is None else Path(mask_path), name=name,
                           threshold=threshold, bands=_wanted(classifier, selection))
    check_scene(classifier, scene)
    return scene


def load_model_scenes(classifier: WindowClassifier, data: str | Path, *, bands: BandSelection | str | list | None,
                      threshold: int, labels: str | Path | None = None) -> list[Scene]:
    """Every scene of a folder, read as `load_model_scene` reads one (checked when it is mapped)."""
    from nivalis.avalanche.io.layout import load_scenes

    selection = BandSelection.parse(bands)
    with _model_bands_hint(classifier, selection):
        return load_scenes(data, threshold=threshold, bands=_wanted(classifier, selection), labels=labels)


def model_input(classifier: WindowClassifier, scene: Scene) -> np.ndarray:
    """The scene's image as the model takes it: its channels, nodata set to the stored band means."""
    mean = classifier.mean.tolist()
    image = to_channels(scene.image, classifier.channels, f"image {scene.image_path or scene.name}")
    return fill_scene(replace(scene, image=image), mean, getattr(classifier, "input_scale", 1 / 255)).image
