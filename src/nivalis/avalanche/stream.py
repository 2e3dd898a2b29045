"""Map a GeoTIFF window by window, so that memory does not grow with the scene: read, predict, write per tile.

An output tile of :math:`T \\times T'` pixels at :math:`(r_0, c_0)` needs the input rows
:math:`r_0 - b \\dots r_0 + T + a - 1` (and columns alike), :math:`(b, a)` the window's reflection padding
(`windows.pad_widths`, :math:`b + a = h - 1`): the receptive-field overlap the dense evaluator uses. The
read is clamped to the raster, and only where it was clamped (the scene's border) is it reflected, which
gives exactly the rows the whole-image path pads with; nodata is filled with the model's stored band means
per tile, as for the whole image. So the tiled map equals the in-memory one (same floating-point operations
per pixel up to the convolution's summation order).

Outputs: probability (float32, NaN = nodata) and mask (uint8: 1 avalanche, 0 none, 255 nodata) are written
tile by tile into tiled GeoTIFFs, then copied to Cloud-Optimized GeoTIFFs with overviews; polygons come
from the mask file's band (GDAL polygonises it block by block), their mean/max probability from windowed reads of
each polygon's bounding box; the overlay is drawn from decimated reads (at most `OVERLAY_SIDE` px a side).

Several processes can share one scene's tiles (`batch.py` does so for a scene larger than the rest under torchrun):
`tile_owners` gives each rank a contiguous run of the same row-major grid with about equal pixel counts,
`map_tile_share` writes a rank's cells as flat arrays into part files, and `predict_geotiff_windowed(parts=...)`
writes those cells into the tiled GeoTIFFs instead of mapping them, then goes on exactly as for one process: the
cells, hence the outputs, are the same whatever the number of processes.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import dense_net
from nivalis.avalanche.fastconv import freed_pages_kept
from nivalis.avalanche.inputs import dataset_input_summary, model_header
from nivalis.avalanche.io.raster import (
    RASTERIO_SUFFIXES,
    BandSelection,
    fill_nodata,
    open_raster,
    read_window,
    to_channels,
)
from nivalis.avalanche.io.writers import to_cog, write_image
from nivalis.avalanche.models import WindowClassifier
from nivalis.avalanche.outputs import mapped_result, output_tags, overlay_image, simplify_pixels
from nivalis.avalanche.vectorize import mask_to_polygons, write_polygons
from nivalis.avalanche.windows import pad_widths
from nivalis.engine import autocast_for
from nivalis.files import atomic_path
from nivalis.progress import bar

OVERLAY_SIDE = 1024
# rasterio hands an integer GDAL_CACHEMAX to GDALSetCacheMax64, which takes bytes (not GDAL's "< 100000 means MB"
# rule for the config option): 64 alone is a 64-byte cache, and a decimated read then decodes each tile per row
GDAL_CACHE_BYTES = 64 * 2**20
#: pixels of the probability map read at a time for one polygon's mean and maximum
STATS_CHUNK_PX = 2**20


def can_stream(classifier: WindowClassifier, image_path: str | Path, refine: str, config: AvalancheConfig) -> bool:
    """Whether `predict` maps this input window by window: a GeoTIFF or VRT, an exact dense model, no refinement or
    pyramid (those need the whole map)."""
    return (Path(image_path).suffix.lower() in RASTERIO_SUFFIXES and refine == "none" and not config.pyramid_levels
            and not getattr(classifier, "per_pixel", False) and dense_net(classifier) is not None)


def reach_tile(window: int, overhead: float = 0.10, step: int = 64, largest: int = 1024) -> int:
    """The output tile side for a model that sees `window` px: the smallest multiple of `step` whose input tile
    (side T + h − 1) recomputes at most `overhead` more pixels than it outputs, :math:`((T + h - 1)/T)^2 \\le
    1 + o`, and at most `largest` (which bounds the feature maps held: memory)."""
    side = (window - 1) / (math.sqrt(1.0 + overhead) - 1.0)
    return int(min(largest, max(step, step * math.ceil(side / step))))


def tile_side(classifier: WindowClassifier, tile: int | None) -> int:
    """The output tile side the windowed map uses: `tile`, else `reach_tile` of the window, within the net's limit."""
    return max(16, min(int(tile or reach_tile(classifier.window)), getattr(dense_net(classifier), "max_tile", 4096)))


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """The cells (r0, c0, rows, cols) of a `height` × `width` raster in tiles of `tile` px, row by row."""
    return [(r0, c0, min(tile, height - r0), min(tile, width - c0))
            for r0 in range(0, height, tile) for c0 in range(0, width, tile)]


def tile_owners(grid: list[tuple[int, int, int, int]], world: int) -> list[int]:
    """The rank that maps each cell when `world` processes share a grid: contiguous runs of cells with about equal
    pixel counts, cell j to rank ⌊world · (pixels of the cells before j + half of its own) / all pixels⌋."""
    total = sum(th * tw for *_, th, tw in grid)
    owners, before = [], 0
    for *_, th, tw in grid:
        owners.append(min(world - 1, world * (2 * before + th * tw) // (2 * total)))
        before += th * tw
    return owners


class _OverlaySamples:
    """The overlay's input pixels and validity, picked from the tiles as they are read: output pixel (i, j) of the
    decimated grid shows source pixel (⌊(i + ½)·H/h⌋, ⌊(j + ½)·W/w⌋), as GDAL's nearest-neighbour decimated read
    does, without a second pass over the input's blocks (an input without overviews decodes every block again)."""

    def __init__(self, height: int, width: int, bands: int):
        f = max(1, math.ceil(max(height, width) / OVERLAY_SIDE))
        shape = (max(1, height // f), max(1, width // f))
        self.rows = ((np.arange(shape[0]) + 0.5) * height / shape[0]).astype(np.int64)
        self.cols = ((np.arange(shape[1]) + 0.5) * width / shape[1]).astype(np.int64)
        self.image: np.ndarray | None = None
        self.valid = np.zeros(shape, bool)
        self.bands = bands

    def add(self, r0: int, c0: int, image: np.ndarray, valid: np.ndarray) -> None:
        """A tile's core (`image` [th, tw, C] of the input bands, `valid` [th, tw]) at (r0, c0)."""
        th, tw = valid.shape
        i0, i1 = np.searchsorted(self.rows, [r0, r0 + th])
        j0, j1 = np.searchsorted(self.cols, [c0, c0 + tw])
        if i0 == i1 or j0 == j1:
            return
        if self.image is None:
            self.image = np.zeros((*self.valid.shape, self.bands), image.dtype)
        r, c = np.ix_(self.rows[i0:i1] - r0, self.cols[j0:j1] - c0)
        self.image[i0:i1, j0:j1] = image[r, c, :self.bands]
        self.valid[i0:i1, j0:j1] = valid[r, c]


class _TileReader:
    """Reads input tiles (receptive-field margin, reflected edges) and standardises them into reused buffers;
    with `overlay`, also keeps the overlay's pixels of each tile (`_OverlaySamples`)."""

    def __init__(self, classifier: WindowClassifier, ds, index, before: int, after: int, where: str,
                 overlay: _OverlaySamples | None = None):
        self.classifier, self.ds, self.index, self.before, self.after, self.where = \
            classifier, ds, index, before, after, where
        self.overlay = overlay
        self.mean = classifier.mean.tolist()
        self.scale = getattr(classifier, "input_scale", 1 / 255)
        self.buffers: dict[tuple, list[torch.Tensor]] = {}
        self.turn = 0

    def _buffer(self, shape: tuple) -> torch.Tensor:
        # three per shape: one being read, one waiting, one in the dense pass; a fourth read reuses the first
        ring = self.buffers.setdefault(shape, [torch.empty(shape) for _ in range(3)])
        self.turn += 1
        return ring[self.turn % 3]

    def __call__(self, cell: tuple[int, int, int, int]):
        r0, c0, th, tw = cell
        image, valid = _reflect_read(self.ds, self.index, r0, c0, th, tw, self.before, self.after)
        if self.overlay is not None:
            core = (slice(self.before, self.before + th), slice(self.before, self.before + tw))
            self.overlay.add(r0, c0, image[core], valid[core])
        image = to_channels(image, self.classifier.channels, self.where)
        image = fill_nodata(image, valid, self.mean, self.scale)
        x = torch.from_numpy(np.ascontiguousarray(image) if image.dtype == np.uint8
                             else image.astype(np.float32)).permute(2, 0, 1)[None]
        buf = self._buffer(tuple(x.shape))
        # the same float32 operations as `WindowClassifier.prepare`, written into the reused buffer
        buf.copy_(x)
        if self.scale != 1.0:
            buf.mul_(self.scale)
        c = self.classifier
        buf.sub_(c.mean.view(1, -1, 1, 1)).div_(c.std.view(1, -1, 1, 1))
        return cell, buf, valid[self.before:self.before + th, self.before:self.before + tw]


def overlapped(cells: list, read, compute, write, *, threads: bool = True, seconds: dict | None = None) -> None:
    """`write(compute(read(cell)))` for every cell in order; with `threads`, cell k + 1 is read and cell k − 1
    written while cell k is computed (GDAL and torch release the GIL), at most two cells waiting each side.
    `seconds` (a dict) accumulates the time spent in each of `read`, `compute` and `write`."""
    if seconds is not None:
        read, compute, write = (_timed(f, seconds, k) for f, k in ((read, "read"), (compute, "dense"),
                                                                   (write, "write")))
    if not threads:
        for cell in cells:
            write(compute(read(cell)))
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, "tile-read") as reader, ThreadPoolExecutor(1, "tile-write") as writer:
        ahead = deque(reader.submit(read, c) for c in cells[:2])
        written: deque = deque()
        try:
            for k in range(len(cells)):
                item = ahead.popleft().result()
                if k + 2 < len(cells):
                    ahead.append(reader.submit(read, cells[k + 2]))
                written.append(writer.submit(write, compute(item)))
                while len(written) > 2:
                    written.popleft().result()
            while written:
                written.popleft().result()
        finally:
            for f in (*ahead, *written):
                f.cancel()


def _timed(fn, seconds: dict, key: str):
    def run(item):
        t = time.perf_counter()
        try:
            return fn(item)
        finally:
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t
    return run


def _reflect_read(ds, index: list[int], r0: int, c0: int, th: int, tw: int, before: int, after: int):
    """Input tile (with the receptive-field margin) [H', W', C] and its validity, reflected at the raster's edges."""
    from rasterio.windows import Window

    height, width = ds.height, ds.width
    top, left = r0 - before, c0 - before
    bottom, right = r0 + th + after, c0 + tw + after
    rr0, cc0, rr1, cc1 = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    data, valid = read_window(ds, index, Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
    pads = ((rr0 - top, bottom - rr1), (cc0 - left, right - cc1))
    image = np.moveaxis(data, 0, -1)
    if any(p for pair in pads for p in pair):
        image = np.pad(image, (*pads, (0, 0)), mode="reflect")
        valid = np.pad(valid, pads, mode="reflect")
    return image, valid


def _dense_pass(net, precision: str, threshold: float):
    """The dense pass of one read cell: (cell, probability with NaN outside the valid core, mask 1/0/255)."""
    def dense(item):
        (r0, c0, th, tw), x, core = item
        with autocast_for(precision):
            logits = net(x)
        p = torch.sigmoid(logits[0, 0, :th, :tw].float()).numpy()
        p = np.where(core, p, np.float32(np.nan)).astype(np.float32)
        return (r0, c0, th, tw), p, np.where(core, (p >= threshold).astype(np.uint8), np.uint8(255))
    return dense


def _part(parts: Path, rank: int, name: str) -> Path:
    return Path(parts) / f"rank{rank}.{name}.npy"


@torch.inference_mode()
def map_tile_share(classifier: WindowClassifier, image_path: str | Path, parts: str | Path, *, rank: int, world: int,
                   threshold: float, precision: str = "fp32", bands: BandSelection | str | list | None = None,
                   tile: int | None = None, overlap: bool = True) -> int:
    """Map rank `rank` of `world`'s cells (`tile_owners`) of the grid `predict_geotiff_windowed` maps with the same
    arguments into `parts/rank<k>.probability.npy` (float32) and `rank<k>.mask.npy` (uint8): flat, cell after cell
    in grid order, each file written atomically. Returns the number of cells (0: no files)."""
    import rasterio

    net = dense_net(classifier)
    classifier.eval()
    before, after = pad_widths(classifier.window)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), open_raster(image_path) as ds:
        header = model_header(classifier, ds, Path(image_path), BandSelection.parse(bands))
        grid = tile_grid(header.height, header.width, tile_side(classifier, tile))
        cells = [c for c, k in zip(grid, tile_owners(grid, world)) if k == rank]
        if not cells:
            return 0
        offsets = dict(zip(cells, accumulate((th * tw for *_, th, tw in cells), initial=0)))
        size = sum(th * tw for *_, th, tw in cells)
        progress = bar(len(cells), f"windowed map, rank {rank}")
        with atomic_path(_part(parts, rank, "probability")) as prob_tmp, \
                atomic_path(_part(parts, rank, "mask")) as mask_tmp:
            flat = [np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(size,))
                    for tmp, dtype in ((prob_tmp, np.float32), (mask_tmp, np.uint8))]

            def write(item):
                cell, p, m = item
                o = offsets[cell]
                flat[0][o:o + p.size], flat[1][o:o + m.size] = p.ravel(), m.ravel()
                progress.update(1)

            reader = _TileReader(classifier, ds, header.index, before, after, f"image {image_path}")
            with freed_pages_kept():
                overlapped(cells, reader, _dense_pass(net, precision, threshold), write, threads=overlap)
            progress.close()
            for array in flat:
                array.flush()
            flat.clear()  # unmapped before the files are renamed
    return len(cells)


def _shared_tiles(parts: Path, grid: list, world: int) -> Iterator[tuple]:
    """(cell, probability, mask) of every cell of `grid`, in order, read from the part files of `world` ranks."""
    arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    offsets = [0] * world
    for cell, k in zip(grid, tile_owners(grid, world)):
        if k not in arrays:
            arrays[k] = tuple(np.load(_part(parts, k, name), mmap_mode="r") for name in ("probability", "mask"))
        *_, th, tw = cell
        o, offsets[k] = offsets[k], offsets[k] + th * tw
        if o + th * tw > arrays[k][0].size:
            raise ValueError(f"the part of rank {k} holds fewer pixels than its cells")
        yield cell, *(np.array(a[o:o + th * tw]).reshape(th, tw) for a in arrays[k])


@torch.inference_mode()
def predict_geotiff_windowed(classifier: WindowClassifier, image_path: str | Path, out_dir: str | Path, *,
                             threshold: float, config: AvalancheConfig, precision: str = "fp32",
                             min_area_px: int = 16, bands: BandSelection | str | list | None = None,
                             simplify_m: float = 0.0, tile: int | None = None, overlap: bool = True,
                             parts: str | Path | None = None, world: int = 1) -> dict[str, Any]:
    """`predict_image` for a GeoTIFF in tiles of `tile` output pixels (None: `reach_tile` of the window; `config`'s
    tile is the in-memory path's), read, mapped and written by three threads when `overlap`, its header read once
    and checked against the model (`bands`, else the checkpoint's). Returns the same keys as `predict_image`.
    `parts`: a folder where `world` ranks' `map_tile_share` (same arguments) wrote every cell: read, not mapped."""
    import rasterio
    from rasterio.windows import Window

    t0 = time.perf_counter()
    image_path, out = Path(image_path), Path(out_dir)
    stem = image_path.stem
    net = dense_net(classifier)
    classifier.eval()
    h = classifier.window
    before, after = pad_widths(h)
    plain = {k: out / f".{stem}.{os.getpid()}.{k}.tif" for k in ("probability", "mask")}
    # GDAL's block cache (by default a share of the machine's RAM) would otherwise keep every written tile
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), open_raster(image_path) as ds:
        header = model_header(classifier, ds, image_path, BandSelection.parse(bands))
        inputs = dataset_input_summary(classifier, ds, header)  # bands, scaling, radiometry_sigma
        index, georef, height, width = header.index, header.georef, header.height, header.width
        tags = output_tags(classifier, threshold, header.band_names, "none")
        stages: dict[str, float] = {}
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        t_map = time.perf_counter()
        try:
            base = {"driver": "GTiff", "height": height, "width": width, "count": 1, "tiled": True,
                    "blockxsize": 512, "blockysize": 512, "compress": "deflate", "crs": ds.crs,
                    "transform": ds.transform}
            tile = tile_side(classifier, tile)
            grid = tile_grid(height, width, tile)
            progress = bar(len(grid), "windowed map" if parts is None else "shared map, assembled")
            with rasterio.open(plain["probability"], "w", **base, dtype="float32", nodata=float("nan")) as prob_ds, \
                    rasterio.open(plain["mask"], "w", **base, dtype="uint8", nodata=255) as mask_ds:
                for ds_out in (prob_ds, mask_ds):
                    ds_out.update_tags(**{k: str(v) for k, v in tags.items()})

                def write(item):
                    (r0, c0, th, tw), p, m = item
                    prob_ds.write(p, 1, window=Window(c0, r0, tw, th))
                    mask_ds.write(m, 1, window=Window(c0, r0, tw, th))
                    progress.update(1)

                if parts is None:
                    samples = _OverlaySamples(height, width, 3 if len(index) >= 3 else 1)
                    reader = _TileReader(classifier, ds, index, before, after, f"image {image_path}", samples)
                    # the tiles' maps reuse each other's pages, handed back before the COG copies and polygons
                    with freed_pages_kept():
                        overlapped(grid, reader, _dense_pass(net, precision, threshold), write, threads=overlap,
                                   seconds=stages)
                else:
                    samples = None
                    for item in _shared_tiles(Path(parts), grid, world):
                        write(item)
                progress.close()
            map_seconds = time.perf_counter() - t_map
            t_cog = time.perf_counter()
            prob_path = to_cog(plain["probability"], out / f"{stem}_probability.tif", resampling="average")
            mask_path = to_cog(plain["mask"], out / f"{stem}_mask.tif", resampling="nearest")
            stages["cog"] = time.perf_counter() - t_cog
        except BaseException:
            for p in plain.values():
                p.unlink(missing_ok=True)
            if made and not any(out.iterdir()):  # a tile that cannot be read leaves no empty folder behind
                out.rmdir()
            raise
        finally:
            for p in plain.values():
                p.unlink(missing_ok=True)
        with rasterio.open(mask_path) as mds:
            # GDAL polygonises the file's band through its block cache: no full-size array is held
            ones = sum(int(np.count_nonzero(mds.read(1, window=win) == 1)) for _, win in mds.block_windows(1))
            fraction = ones / float(mds.width * mds.height)
            t_vec = time.perf_counter()
            polygons = mask_to_polygons(rasterio.band(mds, 1), georef, min_area_px=min_area_px,
                                        simplify_px=simplify_pixels(simplify_m, georef))
        # every later read too: a decimated read of an input without overviews walks all its blocks
        with rasterio.open(prob_path) as pds:
            stats = _polygon_stats(pds, polygons)
        stages["polygons"] = time.perf_counter() - t_vec
        overlay = _decimated_overlay(ds, index, prob_path, mask_path, samples)
    vectors = write_polygons(out, stem, polygons, georef, stats=stats)
    overlay_path = write_image(out / f"{stem}_overlay.png", overlay)
    return mapped_result(classifier, probability=str(prob_path), mask=str(mask_path), vectors=vectors,
                         overlay=str(overlay_path), seconds=time.perf_counter() - t0, map_seconds=map_seconds,
                         avalanches=len(polygons), avalanche_fraction=fraction, height=height, width=width,
                         georef=georef, refine="none", windowed=True) | inputs | {
        "stage_seconds": {k: round(v, 3) for k, v in stages.items()}, "tile": tile}


def _polygon_stats(ds, polygons: list, chunk_px: int = STATS_CHUNK_PX) -> list[tuple[float, float]]:
    """(mean, max) probability of each polygon's pixels, read over its bounding box in runs of rows of at most
    `chunk_px` pixels (a polygon as large as the scene is not read whole)."""
    from rasterio import features
    from rasterio.windows import Window
    from shapely.geometry import mapping

    from nivalis.avalanche.io.raster import bounds_window  # any grid orientation: pixel coordinates are south-up

    stats = []
    for poly in polygons:
        win = bounds_window(poly.bounds, ds.transform, ds.height, ds.width)
        shape = mapping(poly)
        total, count, peak = 0.0, 0, -np.inf
        rows = max(1, chunk_px // max(int(win.width), 1))
        for r in range(0, int(win.height), rows):
            part = Window(win.col_off, win.row_off + r, win.width, min(rows, int(win.height) - r))
            p = ds.read(1, window=part)
            inside = features.rasterize([(shape, 1)], out_shape=p.shape, transform=ds.window_transform(part),
                                        fill=0, dtype=np.uint8).astype(bool) & np.isfinite(p)
            vals = p[inside]
            if vals.size:
                total, count, peak = total + float(vals.sum(dtype=np.float64)), count + vals.size, \
                    max(peak, float(vals.max()))
        stats.append((total / count, peak) if count else (float("nan"), float("nan")))
    return stats


def _decimated_overlay(ds, index: tuple[int, ...], prob_path: Path, mask_path: Path,
                       samples: _OverlaySamples | None = None) -> np.ndarray:
    """The overlay of an open input drawn from reads decimated to at most `OVERLAY_SIDE` px a side (the input's
    pixels from `samples` where the map kept them)."""
    import rasterio
    from rasterio.enums import Resampling

    f = max(1, math.ceil(max(ds.height, ds.width) / OVERLAY_SIDE))
    shape = (max(1, ds.height // f), max(1, ds.width // f))
    if samples is not None and samples.image is not None:
        image, valid = samples.image, samples.valid
    else:
        shown = index[:3] if len(index) >= 3 else index[:1]
        image = np.moveaxis(ds.read([i + 1 for i in shown], out_shape=(len(shown), *shape),
                                    resampling=Resampling.nearest), 0, -1)
        valid = ds.dataset_mask(out_shape=shape) > 0
    with rasterio.open(prob_path) as pds, rasterio.open(mask_path) as mds:
        prob = pds.read(1, out_shape=shape, resampling=Resampling.nearest)
        mask = mds.read(1, out_shape=shape, resampling=Resampling.nearest) == 1
    if image.shape[2] == 2:
        image = image[..., :1]
    return overlay_image(image, prob, mask, valid=valid)
