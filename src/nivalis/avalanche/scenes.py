"""Which scenes a batch maps: paths, folders, globs, list files and local STAC catalogs, resolved into scene inputs.

An argument of `nivalis avalanche predict` is one of

* an image file (JPEG, PNG, GeoTIFF, VRT);
* a folder: its images (or those of its `images/` folder, the seed's layout), sorted by name;
* a glob (``'scenes/2024-*.tif'``), matched by Python's `glob` (``**`` recursive);
* a text file (``.txt``, ``.lst``): one path a line, relative to the file's folder; ``#`` starts a comment;
* a local STAC JSON: an Item, an ItemCollection, or a Catalog/Collection whose ``item`` and ``child`` links
  are followed. Of each item one asset is mapped: the one named by `asset`, else its only GeoTIFF/image asset
  (preferring role ``data``). The asset's ``eo:bands`` (or STAC 1.1 ``bands``) names its bands, so a model
  trained on red, green, blue reads them by name even when the GeoTIFF does not describe them. The item's
  ``datetime`` (or ``start_datetime``) is the scene's acquisition date.

Scene ids are the file stems or STAC item ids, made unique (``-2``, ``-3``) and safe as folder names. A scene
that cannot be resolved (a remote href, an item without the asset) carries its `error` and is recorded as
failed by the batch, which goes on with the others.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass
from pathlib import Path

from nivalis.avalanche.io.raster import IMAGE_SUFFIXES, BandSelection
from nivalis.errors import UserError

LIST_SUFFIXES = (".txt", ".lst")
_GLOB = re.compile(r"[*?\[]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class SceneInput:
    """One scene of a batch: its id, image path, band names (from STAC `eo:bands`) and acquisition date."""

    scene: str
    path: str
    band_names: tuple[str, ...] = ()   # lower-case name of each band of the file, from the catalog ('' unknown)
    acquired: str | None = None        # ISO 8601 date-time
    error: str | None = None           # known bad before any read (recorded as a failure)

    def bands(self, wanted: list[str] | None, given: BandSelection | None) -> BandSelection | None:
        """The bands to read: `given` indices as they are; names (`given`, else the model's `wanted`) looked up in
        the catalog's band names as 1-based indices; None when the catalog names none of them (the file's
        descriptions decide)."""
        names = [str(b) for b in given] if given is not None else wanted
        if given is not None and all(isinstance(b, int) for b in given):
            return given
        if not names or not self.band_names or not all(n in self.band_names for n in names):
            return given
        return BandSelection(tuple(self.band_names.index(n) + 1 for n in names))


def is_single_image(inputs: list[str | Path]) -> bool:
    """One argument naming an existing image file: today's one-scene `predict` (outputs straight in --out)."""
    return (len(inputs) == 1 and Path(inputs[0]).is_file()
            and Path(inputs[0]).suffix.lower() in IMAGE_SUFFIXES)


def _images_in(folder: Path) -> list[Path]:
    if (folder / "images").is_dir():
        folder = folder / "images"
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{what} {path} is not readable JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{what} {path} is not a STAC object (a JSON object with 'type')")
    return data


def _href(href: str, base: Path) -> tuple[str, str | None]:
    """A local path for a STAC href, or (href, error) for one that is not local."""
    if href.startswith("file://"):
        href = href[len("file://"):]
    if re.match(r"^[a-z][a-z0-9+.-]*://", href, re.I):
        return href, f"asset {href} is not a local file (only local catalogs are read)"
    path = Path(href)
    return str(path if path.is_absolute() else (base / path)), None


def _asset_bands(asset: dict) -> tuple[str, ...]:
    bands = asset.get("eo:bands") or asset.get("bands") or []
    names = []
    for b in bands if isinstance(bands, list) else []:
        b = b if isinstance(b, dict) else {}
        name = b.get("common_name") or b.get("eo:common_name") or b.get("name") or ""
        names.append(str(name).strip().lower())
    return tuple(names)


def _pick_asset(item: dict, key: str | None) -> tuple[str | None, dict | None, str | None]:
    assets = item.get("assets") or {}
    if key is not None:
        return (key, assets[key], None) if key in assets else \
            (None, None, f"item has no asset {key!r} (assets: {', '.join(assets) or 'none'})")
    images = {k: a for k, a in assets.items() if isinstance(a, dict) and (
        "tiff" in str(a.get("type", "")).lower() or "image/" in str(a.get("type", "")).lower()
        or Path(str(a.get("href", ""))).suffix.lower() in IMAGE_SUFFIXES)}
    data = {k: a for k, a in images.items() if "data" in (a.get("roles") or [])}
    for group in (data, images):
        if len(group) == 1:
            return (*next(iter(group.items())), None)
    return None, None, (f"item has {len(images)} image assets ({', '.join(images) or 'none'}): choose one with "
                        "--asset")


def _item_scene(item: dict, base: Path, asset_key: str | None) -> SceneInput:
    props = item.get("properties") or {}
    acquired = props.get("datetime") or props.get("start_datetime")
    name = str(item.get("id") or "item")
    key, asset, error = _pick_asset(item, asset_key)
    if asset is None:
        return SceneInput(name, "", acquired=acquired, error=error)
    path, error = _href(str(asset.get("href", "")), base)
    return SceneInput(name, path, _asset_bands(asset), acquired, error)


def _stac_scenes(path: Path, asset: str | None, seen: set[Path]) -> list[SceneInput]:
    path = path.resolve()
    if path in seen:  # a catalog linking back to itself
        return []
    seen.add(path)
    data = _read_json(path, "STAC file")
    kind = data.get("type")
    if kind == "Feature":
        return [_item_scene(data, path.parent, asset)]
    if kind == "FeatureCollection":
        return [_item_scene(f, path.parent, asset) for f in data.get("features", []) if isinstance(f, dict)]
    if kind in ("Catalog", "Collection"):
        out = []
        for link in data.get("links", []):
            if isinstance(link, dict) and link.get("rel") in ("item", "child"):
                target, error = _href(str(link.get("href", "")), path.parent)
                if error:
                    raise UserError(f"STAC catalog {path}: {error}")
                out += _stac_scenes(Path(target), asset, seen)
        return out
    raise UserError(f"{path} is not a STAC Item, ItemCollection, Catalog or Collection (type {kind!r})")


def _list_scenes(path: Path) -> list[SceneInput]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the scene list {path} ({exc})") from None
    out = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            p = Path(line).expanduser()
            out.append(_file_scene(p if p.is_absolute() else path.parent / p))
    return out


def _file_scene(path: Path) -> SceneInput:
    return SceneInput(path.stem, str(path))


def _resolve_one(arg: str, asset: str | None) -> list[SceneInput]:
    path = Path(arg).expanduser()
    if path.is_dir():
        found = _images_in(path)
        if not found:
            raise UserError(f"folder {path} holds no image (JPEG, PNG, GeoTIFF, VRT)")
        return [_file_scene(p) for p in found]
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".json":
            return _stac_scenes(path, asset, set())
        if suffix in LIST_SUFFIXES:
            return _list_scenes(path)
        return [_file_scene(path)]  # an image (or an unreadable file: recorded when it is mapped)
    if _GLOB.search(arg):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not found:
            raise UserError(f"no file matches {arg}")
        return [_file_scene(p) for p in found]
    raise UserError(f"scene not found: {arg} (give images, folders, globs, a list .txt or a STAC .json)")


def resolve_scenes(inputs: list[str | Path], *, asset: str | None = None) -> list[SceneInput]:
    """Every scene named by `inputs` (see the module docstring), in order, with unique folder-safe ids."""
    if not inputs:
        raise UserError("give at least one scene (an image, a folder, a glob, a list .txt or a STAC .json)")
    scenes = [s for arg in inputs for s in _resolve_one(str(arg), asset)]
    if not scenes:
        raise UserError(f"no scene found in {', '.join(map(str, inputs))}")
    used: dict[str, int] = {}
    out = []
    for s in scenes:
        base = _UNSAFE.sub("_", s.scene).strip("._") or "scene"
        n = used.get(base, 0) + 1
        used[base] = n
        out.append(SceneInput(base if n == 1 else f"{base}-{n}", s.path, s.band_names, s.acquired, s.error))
    return out
