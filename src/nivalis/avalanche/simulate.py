"""Simulated satellite scenes of avalanche terrain, written in seed 002's `images/ references/ masks/` layout.

Why one module of this size (over 350 lines): terrain, snow surface, avalanche paths, illumination and the
writers are one generative model whose steps feed each other; its formulas are documented where they run.

The embedded default data of the avalanche pipeline (CAIC's images are not public). Each scene is a
physically motivated rendering, not a drawing of the answer:

1. **Terrain** — a fractional-Brownian surface by spectral synthesis, :math:`|\\hat z(k)| \\propto
   k^{-\\beta/2}` with :math:`\\beta = 3.6` (Hurst 0.8), plus a tilted plane so slopes of 25–45° dominate,
   on a 2 m pixel grid.
2. **Snow surface** — wind-packed micro-relief (anisotropic fractal, a few cm) on the terrain, an albedo of
   0.9 with faint low-frequency variation; **wind-scoured patches** with rougher micro-relief (a texture
   distractor), **rocks** (dark, sharp-edged outcrops where slopes are too steep for snow and at random),
   **trees** below a tree line (dark discs with cast shadows).
3. **Avalanche paths** — a release point on steep upper terrain; the path follows the steepest descent of
   the smoothed terrain with inertia until it runs out on gentler ground. The outline is the union of
   discs along the path (wide release zone cut by a straight **crown** line perpendicular to the flow, a
   narrow **track**, a widening **debris** lobe) as a shapely polygon. Inside it the snow surface is changed
   the way avalanches change it: the slab is removed (the bed surface lies 1–2 m lower, giving a sharp
   crown wall and flanks) and scoured with flow-parallel grooves, darker old snow and scattered chunks; the
   debris is a 1–2.5 m lobe of blocky rough snow with a steep rim, so debris has a rougher texture and sharp edges.
4. **Illumination** — a Lambertian hillshade of terrain + micro-relief with a sun at azimuth :math:`A` and
   elevation :math:`E`, :math:`I = \\max(0, \\mathbf n \\cdot \\mathbf s)`, plus blue-ish diffuse sky light
   weighted by the sky-view term :math:`(1 + n_z)/2`:

   .. math::
       L_c = \\rho_c \\left(E_{sun} c^{sun}_c I + E_{sky} c^{sky}_c \\tfrac{1 + n_z}{2}\\right),\\qquad
       DN_c = 255 \\, \\mathrm{clip}(L_c, 0, 1)^{1/2.2}

   **Sunny** scenes have the sun (30–50° high) in front of the dominant slopes: bright, near-overlapping
   RGB histograms in [200, 255]. **Shady** scenes have a low sun (8–18°) behind them: most slopes lie in
   blue diffuse light with separated channels around [100, 150] — seed 002 §4.3's observation.
5. **Sensor** — a Gaussian point-spread (σ = 0.6 px), Gaussian noise (σ 2–4 DN), 8-bit quantisation and
   JPEG compression for the JPEG scenes.

Masks are the rasterised polygons (255 inside), references the image with the outline drawn in red.
Every fourth scene (index ≡ 1 mod 4) is a GeoTIFF in EPSG:32613 (UTM 13N, Colorado as at CAIC) with a
2 m north-up transform, so the georeferenced path of the pipeline is exercised. Roughly one scene in ten
has no avalanche. `scenes.json` records each scene's sun, illumination class and avalanche count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.ops import unary_union

from nivalis.avalanche.io.raster import GeoRef
from nivalis.avalanche.io.writers import write_geotiff, write_image, write_json
from nivalis.errors import UserError
from nivalis.progress import progress

PIXEL_M = 2.0
CRS = "EPSG:32613"


@dataclass
class SimulatedScene:
    image: np.ndarray                    # uint8 [H, W, 3]
    avalanche_mask: np.ndarray           # bool [H, W]
    polygons: list[Polygon]              # outlines in pixel coordinates (x = column, y = row)
    illumination: str                    # "sunny" | "shady"
    sun_azimuth: float                   # degrees clockwise from north (up)
    sun_elevation: float                 # degrees
    reference: np.ndarray = field(default=None)  # image with the outlines drawn


def fractal_surface(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Zero-mean, unit-variance surface with power spectrum ∝ k^-β (spectral synthesis)."""
    h, w = shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k = np.sqrt(kx**2 + ky**2)
    k[0, 0] = np.inf
    spectrum = (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)) * k ** (-beta / 2)
    field_ = np.fft.irfft2(spectrum, s=(h, w))
    return (field_ - field_.mean()) / (field_.std() + 1e-12)


def _anisotropic_noise(rng, shape, sigma_along, sigma_across, angle_deg) -> np.ndarray:
    big = int(math.ceil(math.hypot(*shape))) + 8
    noise = ndimage.gaussian_filter(rng.standard_normal((big, big)), (sigma_across, sigma_along))
    rotated = ndimage.rotate(noise, angle_deg, reshape=False, order=1)
    r0, c0 = (big - shape[0]) // 2, (big - shape[1]) // 2
    out = rotated[r0:r0 + shape[0], c0:c0 + shape[1]]
    return (out - out.mean()) / (out.std() + 1e-12)


def _surface_normals(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # x = east (columns), y = south (rows grow downward); normal of z(x, y) is (-dz/dx, -dz/dy, 1)/norm
    dzdy, dzdx = np.gradient(z, PIXEL_M)
    norm = np.sqrt(dzdx**2 + dzdy**2 + 1.0)
    return -dzdx / norm, -dzdy / norm, 1.0 / norm


def hillshade(z: np.ndarray, azimuth_deg: float, elevation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Direct-sun factor max(0, n·s) and sky-view factor (1 + n_z)/2 of a height field in metres."""
    nx, ny, nz = _surface_normals(z)
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    sx, sy, sz = math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e)  # north = −y
    return np.clip(nx * sx + ny * sy + nz * sz, 0.0, None), (1.0 + nz) / 2.0


def _flow_path(rng, z_smooth: np.ndarray, slope_deg: np.ndarray, start: tuple[float, float],
               max_len: int) -> np.ndarray:
    h, w = z_smooth.shape
    gy, gx = np.gradient(z_smooth)
    pos = np.array(start, dtype=float)
    g = np.array([gy[int(pos[0]), int(pos[1])], gx[int(pos[0]), int(pos[1])]])
    vel = -g / (np.linalg.norm(g) + 1e-9)
    points, gentle = [pos.copy()], 0
    for _ in range(max_len):
        r, c = int(round(pos[0])), int(round(pos[1]))
        g = np.array([gy[r, c], gx[r, c]])
        down = -g / (np.linalg.norm(g) + 1e-9)
        vel = 0.8 * vel + 0.2 * down + rng.normal(0, 0.03, 2)
        vel /= np.linalg.norm(vel) + 1e-9
        pos = pos + vel
        if not (3 <= pos[0] < h - 4 and 3 <= pos[1] < w - 4):
            break
        points.append(pos.copy())
        gentle = gentle + 1 if slope_deg[int(round(pos[0])), int(round(pos[1]))] < 15 else 0
        if gentle > 12:
            break
    return np.array(points)


def _path_polygon(rng, path: np.ndarray, scale: float) -> tuple[Polygon, float]:
    """Outline around `path` ([n, 2] rows/cols): release (crown cut), track, debris lobe; returns polygon, debris start s."""
    n = len(path)
    s = np.linspace(0.0, 1.0, n)
    r_release, r_track, r_debris = (rng.uniform(9, 16) * scale, rng.uniform(3, 6) * scale, rng.uniform(8, 14) * scale)
    s_debris = rng.uniform(0.62, 0.75)
    radius = np.where(s < 0.15, r_release, np.interp(s, [0.15, 0.32], [r_release, r_track]))
    grow = np.clip((s - s_debris) / 0.15, 0, 1)
    radius = np.where(s > s_debris, r_track + (r_debris - r_track) * np.sqrt(grow), radius)
    tip = s > 0.93
    radius[tip] = r_debris * np.sqrt(np.clip(1 - ((s[tip] - 0.93) / 0.07) ** 2, 0.05, 1))
    radius *= np.exp(rng.normal(0, 0.08, n).cumsum() * 0.05)  # irregular width, as real paths have
    discs = [Point(c, r).buffer(max(rad, 1.5), quad_segs=8) for (r, c), rad in zip(path[::2], radius[::2])]
    outline = unary_union(discs)
    # Crown: the slab breaks along a straight fracture line perpendicular to the flow direction.
    direction = path[min(6, n - 1)] - path[0]
    angle = math.degrees(math.atan2(direction[0], direction[1]))  # in (x = col, y = row)
    half_plane = box(-1000, -1000, 0, 1000)  # x < 0 is uphill of the crown in the flow frame
    half_plane = affinity.rotate(half_plane, angle, origin=(0, 0))
    half_plane = affinity.translate(half_plane, path[0][1] + 2 * math.cos(math.radians(angle)),
                                    path[0][0] + 2 * math.sin(math.radians(angle)))
    outline = outline.difference(half_plane)
    if isinstance(outline, MultiPolygon):
        outline = max(outline.geoms, key=lambda g: g.area)
    return outline.simplify(0.3), s_debris


def rasterize(polygons: list[Polygon], shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside any polygon (pixel coordinates: x = column, y = row, centres at integers)."""
    from affine import Affine
    from rasterio import features

    if not polygons:
        return np.zeros(shape, bool)
    # rasterio's pixel (i, j) spans [j, j + 1] × [i, i + 1]; shifting by half a pixel puts centres on integers
    return features.rasterize(polygons, out_shape=shape, transform=Affine.translation(-0.5, -0.5), fill=0,
                              default_value=1, dtype="uint8").astype(bool)


def simulate_scene(rng: np.random.Generator, size: tuple[int, int] = (256, 256), *, avalanches: int | None = None,
                   illumination: str | None = None) -> SimulatedScene:
    """One scene: terrain, snow, distractors, 0–3 avalanche paths, sun, sensor; see the module docstring."""
    h, w = size
    scale = min(h, w) / 256.0
    illumination = illumination or ("sunny" if rng.random() < 0.5 else "shady")
    if avalanches is None:
        avalanches = 0 if rng.random() < 0.1 else int(rng.integers(1, 4))

    # 1. terrain (metres): fractal + a tilted plane whose downhill direction sets the dominant aspect
    downhill = rng.uniform(0, 360)  # azimuth the slopes face, clockwise from north
    gradient = rng.uniform(0.45, 0.8)
    rows, cols = np.mgrid[0:h, 0:w].astype(float) * PIXEL_M
    east, north = math.sin(math.radians(downhill)), math.cos(math.radians(downhill))
    z = -gradient * (cols * east - rows * north)  # falls toward the downhill azimuth
    relief = fractal_surface(rng, size, 3.6)
    gy, gx = np.gradient(relief, PIXEL_M)
    # scale the fractal by its RMS slope, so relief roughens the plane without making cliffs everywhere
    z += relief * rng.uniform(0.2, 0.35) / np.sqrt(np.mean(gx**2 + gy**2))
    z_smooth = ndimage.gaussian_filter(z, 3)
    dzdy, dzdx = np.gradient(z_smooth, PIXEL_M)
    slope_deg = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))

    # 2. snow micro-relief (m) and albedo; wind-scoured rough patches as a texture distractor
    wind = rng.uniform(0, 180)
    micro = 0.04 * _anisotropic_noise(rng, size, 3.0, 0.8, wind)
    scoured = ndimage.gaussian_filter(rng.standard_normal(size), 10 * scale) > 1.1 * rng.uniform(0.8, 1.2) * \
        ndimage.gaussian_filter(rng.standard_normal(size), 10 * scale).std()
    micro += scoured * 0.12 * ndimage.gaussian_filter(rng.standard_normal(size), 0.8)
    albedo = np.empty((h, w, 3))
    albedo[:] = (0.88, 0.9, 0.92)
    albedo *= (1 + 0.03 * fractal_surface(rng, size, 3.0))[..., None]

    # 3. avalanche paths
    polygons: list[Polygon] = []
    elev_rank = (z_smooth - z_smooth.min()) / (np.ptp(z_smooth) + 1e-9)
    candidates = np.argwhere((slope_deg > 28) & (slope_deg < 50) & (elev_rank > 0.45))
    if len(candidates) == 0:
        candidates = np.argwhere(elev_rank > 0.5)
    tries = 0
    while len(polygons) < avalanches and tries < 40 and len(candidates):
        tries += 1
        start = candidates[rng.integers(len(candidates))]
        path = _flow_path(rng, z_smooth, slope_deg, tuple(start.astype(float)), int(rng.uniform(0.45, 0.8) * min(h, w)))
        if len(path) < 0.25 * min(h, w):
            continue
        outline, s_debris = _path_polygon(rng, path, scale)
        if outline.is_empty or any(outline.buffer(3).intersects(p) for p in polygons):
            continue
        polygons.append(outline)
        inside = rasterize([outline], size)
        ys, xs = np.nonzero(inside)
        tree = cKDTree(path)
        _, nearest = tree.query(np.column_stack([ys, xs]))
        s = nearest / max(len(path) - 1, 1)
        tangent = np.gradient(path, axis=0)[nearest]
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-9
        offset = np.column_stack([ys, xs]) - path[nearest]
        cross = offset[:, 0] * tangent[:, 1] - offset[:, 1] * tangent[:, 0]
        depth = rng.uniform(1.0, 2.0)
        grooves = np.interp(cross, np.arange(-40, 41), ndimage.gaussian_filter1d(rng.standard_normal(81), 0.8) * 0.9)
        debris = s >= s_debris
        # bed surface: slab removed, flow-parallel grooves; debris: raised blocky lobe
        relief = np.where(debris, 0.0, -depth + grooves)
        lobe = rng.uniform(1.0, 2.5)
        relief = np.where(debris, lobe * np.clip((s - s_debris) / 0.05, 0, 1) ** 0.5, relief)
        blocks = ndimage.gaussian_filter(rng.standard_normal(size), 0.8)[ys, xs] * 3.0
        relief = np.where(debris, relief + blocks, relief)
        # chunks of snow left in the track: sparse, sharp bumps
        chunks = ndimage.maximum_filter(rng.random(size) < 0.03, 2)[ys, xs] * rng.uniform(0.4, 0.9)
        relief = np.where(debris, relief, relief + chunks)
        micro[ys, xs] = relief
        albedo[ys[~debris], xs[~debris]] *= 0.78  # older, denser, dirtier bed-surface snow

    # rocks: where slopes are too steep to hold snow, and random outcrops
    rock_field = ndimage.gaussian_filter(rng.standard_normal(size), 2.5 * scale)
    rock = (slope_deg > 47) & (rock_field > 0) | (rock_field > rng.uniform(2.2, 2.8) * rock_field.std())
    rock &= ~rasterize(polygons, size) if polygons else np.ones(size, bool)
    rock_color = np.array([0.22, 0.2, 0.18]) * rng.uniform(0.8, 1.4)
    albedo[rock] = rock_color * (1 + 0.15 * rng.standard_normal((int(rock.sum()), 1)))
    micro += rock * 0.6 * (1 + ndimage.gaussian_filter(rng.standard_normal(size), 1.0))

    # trees below the tree line: dark crowns with shadows cast away from the sun
    sun_azimuth = (downhill + rng.uniform(-60, 60)) % 360 if illumination == "sunny" else \
        (downhill + 180 + rng.uniform(-60, 60)) % 360
    sun_elevation = rng.uniform(30, 50) if illumination == "sunny" else rng.uniform(8, 18)
    forest = (elev_rank < rng.uniform(0.1, 0.3)) & (ndimage.gaussian_filter(rng.standard_normal(size), 8) > -0.02)
    forest &= ~rasterize(polygons, size) if polygons else np.ones(size, bool)
    tree_pos = np.argwhere(forest & (rng.random(size) < 0.04))
    shadow = np.zeros(size, np.uint8)
    crowns = np.zeros(size, np.uint8)
    length = 2.5 / math.tan(math.radians(max(sun_elevation, 10)))
    dr, dc = math.cos(math.radians(sun_azimuth)) * length, -math.sin(math.radians(sun_azimuth)) * length
    for r, c in tree_pos:
        rad = int(rng.integers(1, 3))
        cv2.line(shadow, (int(c), int(r)), (int(round(c + dc)), int(round(r + dr))), 1, rad + 1)
        cv2.circle(crowns, (int(c), int(r)), rad, 1, -1)
    albedo[shadow.astype(bool)] *= 0.45
    albedo[crowns.astype(bool)] = (0.08, 0.12, 0.08)

    # 4. illumination and 5. sensor
    surface = z + micro
    direct, sky_view = hillshade(surface, sun_azimuth, sun_elevation)
    # the sky is brightest toward the sun: a soft directional term keeps relief visible in the shade
    sky_lobe, _ = hillshade(surface, sun_azimuth, 45.0)
    sky = 0.6 * sky_view + 0.6 * sky_lobe
    sun_color, sky_color = np.array([1.0, 0.97, 0.92]), np.array([0.42, 0.55, 0.85])
    e_sun = 0.65 if illumination == "sunny" else 0.8
    e_sky = rng.uniform(0.28, 0.36)
    radiance = albedo * (e_sun * direct[..., None] * sun_color + e_sky * sky[..., None] * sky_color)
    radiance = ndimage.gaussian_filter(radiance, (0.6, 0.6, 0))
    dn = 255.0 * np.clip(radiance, 0, 1) ** (1 / 2.2)
    dn += rng.normal(0, rng.uniform(2, 4), dn.shape)
    image = np.clip(dn, 0, 255).round().astype(np.uint8)
    mask = rasterize(polygons, size) if polygons else np.zeros(size, bool)
    reference = image.copy()
    for poly in polygons:
        pts = np.round(np.asarray(poly.exterior.coords)[:, :2]).astype(np.int32)
        cv2.polylines(reference, [pts], True, (255, 0, 0), max(1, round(scale)), lineType=cv2.LINE_AA)
    return SimulatedScene(image, mask, polygons, illumination, float(sun_azimuth), float(sun_elevation), reference)


IMAGE_FORMATS = ("mixed", "geotiff16")
GEOTIFF16_BANDS = ("blue", "green", "red", "nir")


def to_reflectance16(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 RGB → 4-band uint16 B,G,R,NIR in reflectance × 10000 (as SPOT/Sentinel-2 L2A deliver): visible bands
    ρ = 0.02 + 0.9 V/255, NIR ρ = 0.8 × mean visible (snow is darker in the near infrared) + noise; ≥ 1 so that 0
    stays nodata."""
    rho = 0.02 + 0.9 * image.astype(np.float32) / 255.0
    nir = 0.8 * rho.mean(axis=2) + rng.normal(0.0, 0.01, image.shape[:2]).astype(np.float32)
    bands = np.stack([rho[..., 2], rho[..., 1], rho[..., 0], nir], axis=-1)
    return np.clip(np.round(bands * 10000.0), 1, 10000).astype(np.uint16)


def nodata_border(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """bool [H, W], True outside a satellite swath: a slanted strip along one random side (10–25 % of it)."""
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w]
    width = rng.uniform(0.1, 0.25) * w
    slant = rng.uniform(-0.15, 0.15)
    side = int(rng.integers(4))
    across = {0: cols, 1: w - 1 - cols, 2: rows, 3: h - 1 - rows}[side]
    along = rows if side < 2 else cols
    return across < width + slant * (along - along.mean())


def simulate_dataset(out: str | Path, scenes: int = 60, seed: int = 0, size: tuple[int, int] = (256, 256),
                     geotiff_every: int = 4, image_format: str = "mixed") -> dict:
    """Write `scenes` scenes to `out/images|references|masks` (+ scenes.json).

    `image_format`: `mixed` (JPEG images, PNG masks; every `geotiff_every`-th scene an 8-bit RGB GeoTIFF) or
    `geotiff16` (every scene a 4-band uint16 GeoTIFF, bands described blue, green, red, nir, reflectance ×
    10000, with a nodata = 0 border; GeoTIFF masks, zero under the border)."""
    if image_format not in IMAGE_FORMATS:
        raise UserError(f"--format must be {' or '.join(IMAGE_FORMATS)} (got {image_format!r})")
    if scenes < 1:
        raise UserError(f"--scenes must be at least 1 (got {scenes})")
    if min(size) < 64:
        raise UserError(f"--size must be at least 64 px (got {size[0]}×{size[1]})")
    out = Path(out)
    rng = np.random.default_rng(seed)
    records, paths = [], []
    for i in progress(range(scenes), total=scenes, desc="simulate scenes"):
        scene = simulate_scene(rng, size)
        name = f"scene_{i:03d}"
        georef = None
        if image_format == "geotiff16":
            x0, y0 = 300_000 + float(rng.uniform(0, 150_000)), 4_150_000 + float(rng.uniform(0, 300_000))
            georef = GeoRef(CRS, (PIXEL_M, 0.0, x0, 0.0, -PIXEL_M, y0))
            border = nodata_border(rng, scene.avalanche_mask.shape)
            bands = to_reflectance16(scene.image, rng)
            bands[border] = 0
            mask = scene.avalanche_mask & ~border
            image_path = write_geotiff(out / "images" / f"{name}.tif", bands, georef, nodata=0,
                                       descriptions=list(GEOTIFF16_BANDS))
            write_geotiff(out / "references" / f"{name}.tif", scene.reference, georef)
            write_geotiff(out / "masks" / f"{name}.tif", mask.astype(np.uint8) * 255, georef)
        elif geotiff_every and i % geotiff_every == 1:
            # a north-up 2 m grid somewhere in Colorado's San Juan / Front Range UTM 13N band
            x0, y0 = 300_000 + float(rng.uniform(0, 150_000)), 4_150_000 + float(rng.uniform(0, 300_000))
            georef = GeoRef(CRS, (PIXEL_M, 0.0, x0, 0.0, -PIXEL_M, y0))
            image_path = write_geotiff(out / "images" / f"{name}.tif", scene.image, georef)
            write_geotiff(out / "references" / f"{name}.tif", scene.reference, georef)
            write_geotiff(out / "masks" / f"{name}.tif", scene.avalanche_mask.astype(np.uint8) * 255, georef)
        else:
            image_path = write_image(out / "images" / f"{name}.jpg", scene.image)
            write_image(out / "references" / f"{name}.jpg", scene.reference)
            write_image(out / "masks" / f"{name}.png", scene.avalanche_mask.astype(np.uint8) * 255)
        paths.append(str(image_path))
        records.append({"name": name, "file": image_path.name, "illumination": scene.illumination,
                        "sun_azimuth": round(scene.sun_azimuth, 2), "sun_elevation": round(scene.sun_elevation, 2),
                        "avalanches": len(scene.polygons), "avalanche_fraction": float(scene.avalanche_mask.mean()),
                        "crs": georef.crs if georef else None})
    write_json(out / "scenes.json", {"seed": seed, "size": list(size), "pixel_m": PIXEL_M, "format": image_format,
                                     "scenes": records})
    return {"images": len(records), "out": str(out), "files": paths,
            "geotiffs": sum(1 for r in records if r["crs"]), "with_avalanche": sum(1 for r in records if r["avalanches"])}


#: one scene's arrays (image, reference, mask, fields) take about this many bytes a pixel while it is made
SIMULATION_BYTES_PER_PIXEL = 80


def simulate_folder(out: str | Path, *, scenes: int = 60, seed: int = 0, size: int = 256,
                    image_format: str = "mixed") -> dict:
    """`nivalis avalanche simulate`: check that a scene fits in memory and the folder can take the files, then
    `simulate_dataset` square scenes. Returns its summary with the first image's path as `first`."""
    from nivalis.files import prepare_output_dir

    need = SIMULATION_BYTES_PER_PIXEL * size * size
    if need > 4 * 2**30:
        raise UserError(f"--size {size}: one scene would need about {need / 2**30:.0f} GiB while it is made "
                        "(at most 4 GiB; 7000 px or less)")
    out = prepare_output_dir(out, need_bytes=scenes * size * size * 8)
    result = simulate_dataset(out, scenes=scenes, seed=seed, size=(size, size), image_format=image_format)
    files = result.pop("files")
    return result | {"first": files[0]}
