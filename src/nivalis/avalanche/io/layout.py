"""Seed 002's scene folder: `images/`, `references/`, `masks/` with the same file names, read into `Scene`s.

Images are JPEG, PNG or GeoTIFF (or VRT); masks are rasters on the image's grid or polygons (`labels`); a
scene carries its image's bands, avalanche mask, georeferencing and valid (non-nodata) pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nivalis.avalanche.io.labels import VECTOR_SUFFIXES, read_scene_mask
from nivalis.avalanche.io.raster import IMAGE_SUFFIXES, BandSelection, GeoRef, fill_nodata, read_raster
from nivalis.errors import UserError


@dataclass
class Scene:
    """One image with its avalanche mask (None when the folder has none) and georeferencing (None for JPEG/PNG)."""

    name: str
    image: np.ndarray                 # [H, W, C], the file's dtype (uint8, uint16, int16, float32), C bands
    avalanche_mask: np.ndarray | None  # bool [H, W]
    georef: GeoRef | None = None
    image_path: Path | None = None
    valid: np.ndarray | None = None   # bool [H, W]: False on nodata; None when every pixel is valid
    band_names: tuple[str, ...] = ()  # lower-case description / colour of each band read ('' when unknown)
    band_index: tuple[int, ...] = ()  # 0-based: which of the image file's bands these are

    @property
    def valid_mask(self) -> np.ndarray:
        return np.ones(self.shape, bool) if self.valid is None else self.valid

    @property
    def channels(self) -> int:
        return int(self.image.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


def fill_scene(scene: Scene, mean: list[float], scale: float) -> Scene:
    """The scene with nodata pixels set to the model's band means (see `raster.fill_nodata`)."""
    if scene.valid is None:
        return scene
    return replace(scene, image=fill_nodata(scene.image, scene.valid, mean, scale))


def _index(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."):
                files.setdefault(p.stem, p)
    return files


def scene_files(root: str | os.PathLike) -> list[tuple[str, Path, Path | None, Path | None]]:
    """(name, image, mask, reference) paths of a scene folder; mask/reference None where absent."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data folder not found: {root}")
    images = _index(root / "images")
    if not images:
        raise UserError(f"{root} has no images/ folder with JPEG, PNG or GeoTIFF files (seed 002 layout: "
                        "images/, references/, masks/)")
    masks, refs = _index(root / "masks", IMAGE_SUFFIXES + VECTOR_SUFFIXES), _index(root / "references")
    return [(name, path, masks.get(name), refs.get(name)) for name, path in images.items()]


def load_scene(image_path: Path, mask_path: Path | None = None, *, name: str | None = None,
               threshold: int = 127, bands: BandSelection | str | list | None = None) -> Scene:
    """Read one image's `bands` and its mask (a raster on the same grid, or polygons rasterised onto it);
    nodata → `valid`."""
    raster = read_raster(image_path, bands)
    image, georef = raster.image, raster.georef
    mask = None
    if mask_path is not None:
        mask = read_scene_mask(Path(mask_path), Path(image_path), georef, image.shape[:2], threshold)
        if raster.valid is not None:
            mask = mask & raster.valid
    return Scene(name or Path(image_path).stem, image, mask, georef, Path(image_path), raster.valid, raster.band_names,
                 raster.band_index)


def load_scenes(root: str | os.PathLike, *, require_masks: bool = True, threshold: int = 127,
                bands: BandSelection | str | list | None = None,
                labels: str | os.PathLike | None = None) -> list[Scene]:
    """Every scene of a seed-layout folder, sorted by name. An image with no avalanche (all-zero mask) is valid.

    `labels`: one polygon file (GeoJSON, GeoPackage, Shapefile) for every image, rasterised onto each image's
    grid instead of `masks/`."""
    scenes = []
    if labels is not None and not Path(labels).is_file():
        raise UserError(f"labels not found: {labels}")
    files = scene_files(root)
    selection = BandSelection.parse(bands)  # once for every scene
    for name, image_path, mask_path, _ in files:
        if labels is not None:
            mask_path = Path(labels)
        if mask_path is None and require_masks:
            raise UserError(f"no mask for image {image_path.name} in {Path(root) / 'masks'}")
        scenes.append(load_scene(image_path, mask_path, name=name, threshold=threshold, bands=selection))
    return scenes
