"""Avalanche scene I/O: rasters and their bands, labels, writers, and seed 002's scene folder.

`raster` (georeferencing, band selection, whole and windowed reads, nodata), `labels` (mask rasters, polygons
rasterised onto the image's grid), `writers` (GeoTIFF, COG, images, JSON) and `layout` (the images/
references/ masks/ folder read into `Scene`s).

Lazy like the package above it: `from nivalis.avalanche.io import Scene` imports `layout` (and what it
needs), never OpenCV or rasterio until a function reads or writes a file.
"""

from nivalis.lazy import lazy_exports

_NAMES_BY_MODULE = {
    ".raster": ("COLOURS", "GEOTIFF_SUFFIXES", "IMAGE_SUFFIXES", "RASTERIO_SUFFIXES", "BandSelection", "GeoRef",
                "Raster", "RasterHeader", "dataset_georef", "display_uint8", "fill_nodata", "open_raster",
                "read_header", "read_image", "read_raster", "read_window", "resolve_bands", "to_channels"),
    ".labels": ("VECTOR_SUFFIXES", "rasterize_labels", "read_label_polygons", "read_mask", "read_scene_mask",
                "same_grid"),
    ".writers": ("to_cog", "write_geotiff", "write_image", "write_json"),
    ".layout": ("Scene", "fill_scene", "load_scene", "load_scenes", "scene_files"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _NAMES_BY_MODULE)
