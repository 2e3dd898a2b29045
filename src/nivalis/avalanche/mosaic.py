"""A batch's merged products: a VRT mosaic of the scenes' probability COGs and one GeoPackage of every polygon.

The VRT is written as GDAL's XML (no pixel is copied): one `ComplexSource` per scene placed by its geotransform
on a grid with the finest pixel size of the group, NaN (the maps' nodata) transparent, so overlapping scenes
show the later one where it has data. A VRT has one CRS: scenes are grouped by CRS, and each group gets its own
file (`mosaic.vrt` when there is one group, `mosaic_<crs>.vrt` otherwise). Rotated grids and scenes without
georeferencing are left out of the mosaic.

The GeoPackage (`avalanches.gpkg`, layer `avalanches`) holds every scene's polygons in the CRS of the most
common group (others reprojected), with the columns `scene` and `acquired` (ISO 8601, empty when unknown)
beside each scene layer's own (`id`, `area_px`, `area_m2`, `mean_prob`, `max_prob`). Scenes without a CRS
join it only when no scene has one (pixel coordinates then).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from nivalis.files import atomic_path, atomic_write_text

FIELDS = ("id", "area_px", "area_m2", "mean_prob", "max_prob")


def _grid(path: Path) -> dict | None:
    import rasterio

    with rasterio.open(path) as ds:
        t = ds.transform
        if not ds.crs or t.b or t.d:
            return None
        return {"path": path, "crs": ds.crs.to_wkt(), "key": ds.crs.to_string(), "transform": t,
                "width": ds.width, "height": ds.height}


def _vrt_xml(grids: list[dict], vrt: Path) -> str:
    res_x = min(abs(g["transform"].a) for g in grids)
    res_y = min(abs(g["transform"].e) for g in grids)
    boxes = []
    for g in grids:
        t = g["transform"]
        x0, x1 = sorted((t.c, t.c + t.a * g["width"]))
        y0, y1 = sorted((t.f, t.f + t.e * g["height"]))
        boxes.append((x0, y0, x1, y1))
    left, top = min(b[0] for b in boxes), max(b[3] for b in boxes)
    width = math.ceil(round((max(b[2] for b in boxes) - left) / res_x, 6))
    height = math.ceil(round((top - min(b[1] for b in boxes)) / res_y, 6))
    sources = []
    for g, (x0, y0, x1, y1) in zip(grids, boxes):
        rel = Path(g["path"]).resolve().relative_to(vrt.parent.resolve()) \
            if Path(g["path"]).resolve().is_relative_to(vrt.parent.resolve()) else None
        name = f'<SourceFilename relativeToVRT="1">{escape(str(rel))}</SourceFilename>' if rel else \
            f'<SourceFilename relativeToVRT="0">{escape(str(Path(g["path"]).resolve()))}</SourceFilename>'
        sources.append(
            f'    <ComplexSource>\n      {name}\n      <SourceBand>1</SourceBand>\n'
            f'      <SrcRect xOff="0" yOff="0" xSize="{g["width"]}" ySize="{g["height"]}"/>\n'
            f'      <DstRect xOff="{(x0 - left) / res_x:.10g}" yOff="{(top - y1) / res_y:.10g}" '
            f'xSize="{(x1 - x0) / res_x:.10g}" ySize="{(y1 - y0) / res_y:.10g}"/>\n'
            f'      <NODATA>nan</NODATA>\n    </ComplexSource>')
    return (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n'
            f'  <SRS>{escape(grids[0]["crs"])}</SRS>\n'
            f'  <GeoTransform>{left!r}, {res_x!r}, 0.0, {top!r}, 0.0, {-res_y!r}</GeoTransform>\n'
            f'  <VRTRasterBand dataType="Float32" band="1">\n    <NoDataValue>nan</NoDataValue>\n'
            f'    <Description>probability</Description>\n' + "\n".join(sources) +
            '\n  </VRTRasterBand>\n</VRTDataset>\n')


def write_mosaics(probabilities: list[Path], out_dir: Path) -> list[Path]:
    """VRT mosaics of the probability rasters, one per CRS (see the module docstring); [] when none is placed."""
    grids = [g for g in (_grid(Path(p)) for p in probabilities) if g is not None]
    groups: dict[str, list[dict]] = {}
    for g in grids:
        groups.setdefault(g["key"], []).append(g)
    paths = []
    for key, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        name = "mosaic.vrt" if len(groups) == 1 else f"mosaic_{_safe(key)}.vrt"
        paths.append(atomic_write_text(out_dir / name, _vrt_xml(members, out_dir / name)))
    return paths


def _safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "crs"


def _read_layer(path: Path):
    from pyogrio.raw import read

    meta, _, geometry, fields = read(str(path))
    names = list(meta["fields"])
    return meta.get("crs"), geometry, {n: fields[names.index(n)] for n in FIELDS if n in names}


def merge_polygons(layers: list[tuple[str, str | None, Path]], path: Path) -> tuple[Path, int]:
    """One GeoPackage of every scene's polygons: `layers` = (scene, acquired, scene GeoPackage). Returns
    (path, number of polygons)."""
    import shapely
    from pyogrio.raw import write
    from rasterio.crs import CRS
    from rasterio.warp import transform_geom

    read = [(scene, acquired, *_read_layer(p)) for scene, acquired, p in layers]
    crs_counts = Counter(crs for _, _, crs, _, _ in read if crs)
    target = crs_counts.most_common(1)[0][0] if crs_counts else None
    geoms, columns = [], {n: [] for n in ("scene", "acquired", *FIELDS)}
    for scene, acquired, crs, geometry, fields in read:
        if bool(crs) != bool(target):
            continue  # pixel coordinates cannot join map coordinates
        for k, wkb in enumerate(geometry):
            if crs and crs != target:
                geom = shapely.geometry.shape(transform_geom(CRS.from_user_input(crs), CRS.from_user_input(target),
                                                             shapely.geometry.mapping(shapely.from_wkb(wkb))))
                wkb = shapely.to_wkb(geom)
            geoms.append(wkb)
            columns["scene"].append(scene)
            columns["acquired"].append(acquired or "")
            for n in FIELDS:
                columns[n].append(fields[n][k] if n in fields else np.nan)
    names = list(columns)
    data = [np.array(columns["scene"], dtype=object), np.array(columns["acquired"], dtype=object),
            np.array(columns["id"], dtype=np.int64)] + [np.array(columns[n], dtype=np.float64) for n in FIELDS[1:]]
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        write(str(tmp), np.array(geoms, dtype=object), data, names, layer="avalanches", driver="GPKG",
              geometry_type="MultiPolygon" if any(shapely.from_wkb(g).geom_type == "MultiPolygon" for g in geoms)
              else "Polygon", crs=target)
    return path, len(geoms)
