"""Avalanche polygons from a binary mask: exact pixel outlines → valid shapely polygons → GeoJSON and GeoPackage.

The forecaster's product (seed 002 §2: "a method that obtains an avalanche polygon"). Outlines are
traced along pixel edges (rasterio's `shapes`) over *4-connected* regions, holes kept, so a polygon covers
exactly the mask's pixels; 8-connected tracing joined pixels touching at a corner into self-touching,
invalid rings. Any ring still invalid is repaired with `shapely.make_valid` (polygon parts kept). Outlines
are traced in pixel units, where pixel :math:`(i, j)` is the square :math:`[j, j + 1] \times [i, i + 1]`
(x = column, y = row), so a region's area is its exact integer pixel count; regions of fewer than
`min_area_px` pixels are dropped as noise (the same objects `metrics.object_counts` scores). With a GeoTIFF
input the outlines are then mapped into the raster's CRS by its affine transform,
:math:`(x, y) = A\\,(\text{col}, \text{row})`. `simplify_px` optionally straightens the staircase outline
(Douglas–Peucker).

Outputs (`write_polygons`): a GeoPackage layer in the image's CRS (pixel coordinates and no CRS for
JPEG/PNG), and for georeferenced images an RFC 7946 GeoJSON: WGS 84 longitude/latitude, no `crs`
member, 7 decimals, exterior rings counter-clockwise. Attributes: `area_px`, `area_m2` (the polygon's
area in the native CRS when it is projected, scaled to metres; in the equal-area EPSG:6933 for a
geographic CRS), `mean_prob` and `max_prob` of the probability map over the region's pixels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

from nivalis.avalanche.io.raster import GeoRef
from nivalis.avalanche.io.writers import write_json
from nivalis.avalanche.metrics import MIN_AREA_PX
from nivalis.errors import UserError
from nivalis.files import atomic_path

EQUAL_AREA = "EPSG:6933"
WGS84 = "EPSG:4326"


def _polygon_parts(geom) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    if isinstance(geom, MultiPolygon) or hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygon_parts(g)]
    return []  # lines / points from make_valid: no area


def mask_to_polygons(mask: np.ndarray, georef: GeoRef | None = None, *, min_area_px: int = MIN_AREA_PX,
                     simplify_px: float = 0.0) -> list:
    """Valid shapely polygons of the 4-connected True regions of `mask`, in map coordinates when `georef` is given.

    `mask` is an array, or a band of an open uint8 mask raster (`rasterio.band(ds, 1)`: 1 avalanche, other
    values none or nodata), which GDAL polygonises from the file without a full-size array in memory.
    """
    from rasterio import features
    from shapely import affinity

    if isinstance(mask, np.ndarray):
        mask = np.ascontiguousarray(mask, dtype=np.uint8)  # no copy for a uint8 0/1 mask (a big scene's)
        if mask.size and mask.max() > 1:
            mask = (mask > 0).astype(np.uint8)
        source = {"source": mask, "mask": mask.view(bool)}
    else:
        source = {"source": mask}
    # GDAL polygonises a file's band in its dataset's coordinates (rasterio ignores `transform` then): back to pixels
    back = None if isinstance(mask, np.ndarray) else ~mask.ds.transform
    polygons = []
    for geom, value in features.shapes(**source, connectivity=4):  # pixel units: integer vertices
        if value != 1:
            continue
        poly = shape(geom)
        if back is not None:
            poly = affinity.affine_transform(poly, [back.a, back.b, back.d, back.e, back.c, back.f])
        if round(poly.area) < min_area_px:
            continue
        if simplify_px > 0:
            poly = poly.simplify(simplify_px, preserve_topology=True)
        if georef is not None:
            a, b, c, d, e, f = georef.transform
            poly = affinity.affine_transform(poly, [a, b, d, e, c, f])
        parts = [poly] if poly.is_valid else _polygon_parts(shapely.make_valid(poly))
        polygons += [p for p in parts if p.is_valid and p.area > 0]
    polygons.sort(key=lambda p: -p.area)
    return polygons


def _crs(georef: GeoRef | None):
    if georef is None or not georef.crs:
        return None
    from rasterio.crs import CRS

    return CRS.from_user_input(georef.crs)


def polygon_areas_m2(polygons: list, georef: GeoRef | None) -> list[float] | None:
    """Areas in m²: native projected CRS (× its unit in metres), or EPSG:6933 (equal area) for a geographic CRS."""
    crs = _crs(georef)
    if crs is None:
        return None
    if crs.is_projected:
        factor = crs.linear_units_factor[1] ** 2
        return [p.area * factor for p in polygons]
    from rasterio.warp import transform_geom

    return [shape(transform_geom(crs, EQUAL_AREA, mapping(p))).area for p in polygons]


def polygon_attributes(polygons: list, georef: GeoRef | None = None, probability: np.ndarray | None = None,
                       mask: np.ndarray | None = None, stats: list[tuple[float, float]] | None = None) -> list[dict]:
    """Per polygon: id, area_px, area_m2 (georeferenced only), mean_prob and max_prob (from the maps, or `stats`:
    (mean, max) per polygon computed elsewhere, e.g. window by window)."""
    pixel_area = georef.pixel_area if georef is not None else 1.0
    labels = means = maxima = None
    if probability is not None and mask is not None:
        from scipy import ndimage

        labels, n = ndimage.label(mask)  # 4-connected, as the outlines
        inside = labels > 0
        lab, val = labels[inside] - 1, probability[inside].astype(np.float64)
        # bincount / maximum.at over the mask's pixels only: ndimage.maximum is seconds on a big scene
        means = np.bincount(lab, weights=val, minlength=n) / np.maximum(np.bincount(lab, minlength=n), 1)
        maxima = np.full(n, -np.inf)
        np.maximum.at(maxima, lab, val)
    areas = polygon_areas_m2(polygons, georef)
    rows = []
    for k, poly in enumerate(polygons):
        props = {"id": k, "area_px": round(poly.area / pixel_area, 1)}
        if areas is not None:
            props["area_m2"] = round(areas[k], 1)
        if stats is not None:
            props["mean_prob"], props["max_prob"] = (round(float(v), 4) for v in stats[k])
        elif labels is not None:
            label = _label_under(poly, georef, labels)
            if label:
                props["mean_prob"] = round(float(means[label - 1]), 4)
                props["max_prob"] = round(float(maxima[label - 1]), 4)
        rows.append(props)
    return rows


def to_wgs84(poly: Polygon, georef: GeoRef) -> list[Polygon]:
    """The polygon in WGS 84 lon/lat, 7 decimals, exterior counter-clockwise (RFC 7946 §3.1.6)."""
    from rasterio.warp import transform_geom

    geom = shape(transform_geom(_crs(georef), WGS84, mapping(poly)))
    geom = shapely.transform(geom, lambda xy: np.round(xy, 7))
    parts = [geom] if geom.is_valid else _polygon_parts(shapely.make_valid(geom))
    return [orient(p, 1.0) for p in _polygon_parts(MultiPolygon(parts) if len(parts) > 1 else parts[0])]


def polygons_geojson(polygons: list, georef: GeoRef | None = None, probability: np.ndarray | None = None,
                     mask: np.ndarray | None = None, stats: list | None = None) -> dict:
    """An RFC 7946 FeatureCollection (WGS 84 lon/lat, no `crs` member) with `polygon_attributes` as properties.

    A scene without a CRS has no place on the globe: a UserError (write the GeoPackage in pixel coordinates).
    """
    if polygons and _crs(georef) is None:
        raise UserError("a GeoJSON is WGS 84 longitude/latitude (RFC 7946) and this image has no CRS: "
                        "its polygons go to a GeoPackage in pixel coordinates")
    feats = []
    for poly, props in zip(polygons, polygon_attributes(polygons, georef, probability, mask, stats)):
        parts = to_wgs84(poly, georef)
        geom = parts[0] if len(parts) == 1 else MultiPolygon(parts)
        feats.append({"type": "Feature", "geometry": _rounded(mapping(geom)), "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def _rounded(geometry: dict) -> dict:
    def walk(c):
        return [walk(x) for x in c] if isinstance(c[0], (list, tuple)) else [round(float(v), 7) for v in c]

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def _label_under(poly, georef: GeoRef | None, labels: np.ndarray) -> int:
    """Label of the mask region under the polygon's interior point (0: none)."""
    pt = poly.representative_point()
    col, row = (~georef.affine @ (pt.x, pt.y)) if georef is not None else (pt.x, pt.y)
    r = min(max(int(row), 0), labels.shape[0] - 1)
    c = min(max(int(col), 0), labels.shape[1] - 1)
    return int(labels[r, c])


def write_geojson(path: str | Path, polygons: list, georef: GeoRef | None = None, probability: np.ndarray | None = None,
                  mask: np.ndarray | None = None, stats: list | None = None) -> Path:
    return write_json(path, polygons_geojson(polygons, georef, probability, mask, stats))


def write_gpkg(path: str | Path, polygons: list, georef: GeoRef | None = None, probability: np.ndarray | None = None,
               mask: np.ndarray | None = None, layer: str = "avalanches", stats: list | None = None) -> Path:
    """A GeoPackage layer of the polygons in the image's CRS (pixel coordinates and no CRS without one)."""
    from pyogrio.raw import write

    rows = polygon_attributes(polygons, georef, probability, mask, stats)
    names = ["id", "area_px", "area_m2", "mean_prob", "max_prob"]
    names = [n for n in names if any(n in r for r in rows) or (n == "area_m2" and _crs(georef) is not None)
             or n in ("id", "area_px")]
    field_data = [np.array([r.get(n, np.nan) for r in rows], dtype=np.int64 if n == "id" else np.float64)
                  for n in names]
    crs = _crs(georef)
    geometry = np.array([shapely.to_wkb(p) for p in polygons], dtype=object)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # no CRS is the truth for an unreferenced JPEG/PNG (pixel coordinates), not an oversight
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        write(str(tmp), geometry, field_data, names, layer=layer, driver="GPKG", geometry_type="Polygon",
              crs=crs.to_wkt() if crs is not None else None)
    return path


def write_polygons(out_dir: str | Path, stem: str, polygons: list, georef: GeoRef | None = None,
                   probability: np.ndarray | None = None, mask: np.ndarray | None = None,
                   stats: list | None = None) -> dict:
    """`<stem>_polygons.gpkg` always, `<stem>_polygons.geojson` (WGS 84) when the image has a CRS.

    Returns {"gpkg", "polygons" (the GeoJSON, None without a CRS), "georeferenced"}."""
    out = Path(out_dir)
    gpkg = write_gpkg(out / f"{stem}_polygons.gpkg", polygons, georef, probability, mask, stats=stats)
    georeferenced = _crs(georef) is not None
    geojson = write_geojson(out / f"{stem}_polygons.geojson", polygons, georef, probability, mask, stats) \
        if georeferenced else None
    return {"gpkg": str(gpkg), "polygons": str(geojson) if geojson else None, "georeferenced": georeferenced}
