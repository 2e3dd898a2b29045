"""Map an archive of scenes: a run manifest, resume by content hash, shards of scenes per torchrun rank, mosaics.

`predict_batch` maps every scene `scenes.resolve_scenes` finds, each exactly as `predict_image` maps one, into
`OUT/scenes/<id>/` (written in a `.<id>.<pid>.partial` folder renamed into place, so a scene's folder is whole
or absent). After each scene the manifest (`OUT/manifest.json`: checkpoint and its SHA-256, the settings, and
per scene `scene`, `path`, `status` done/failed, `seconds`, `outputs`, `error`, `input_sha256`, `acquired`) is
rewritten atomically. A scene that fails is recorded with its one-line reason and the others go on.

`resume=True` keeps every scene the previous manifest records as done with the same input content (SHA-256 of
the file, not its name), the same checkpoint content and the same settings, and whose outputs still exist.

Under torchrun (`torchrun --nnodes N --nproc_per_node P -m nivalis avalanche predict ...`) every rank resolves
the same scene list, hashes its round-robin share of the inputs, and the hashes are all-gathered; the scenes left
to map are split by file size (`shared_scenes`, then `engine.distributed.shard`):

- A scene larger than the rest is *shared*: taking scenes largest first, while a scene's size times the world
  size exceeds the total size of the scenes not yet shared (it alone would outweigh a balanced rank's load), it is
  shared if it can be mapped window by window (`stream.can_stream`: a GeoTIFF/VRT, a dense model, no refinement,
  no pyramid level); one that cannot stays whole. Shared scenes are mapped first, one after the other, by every
  rank: rank k maps its contiguous run of the scene's tile grid (`stream.tile_owners`, about equal pixel counts)
  into part files in the scene's `.partial` folder; the ranks all-gather their errors (any rank's error is the
  scene's failure, on every rank, and the run goes on) and rank 0 writes the outputs from the parts exactly as
  one process does, then the scene's record, with `rank: "all"` and `ranks` (those that mapped tiles).
- The other scenes are mapped whole, each by one rank: largest first, each to the least-loaded rank.

Rank k writes `manifest.rank<k>.json` after each of its scenes; at the end the records are all-gathered and rank 0
writes `manifest.json` (removing the rank files), the VRT mosaics and the merged GeoPackage (`mosaic.py`), then
broadcasts the result, so every rank returns the same. With several machines `OUT` must be one shared folder.
The per-scene outputs do not depend on the number of processes or on which scenes are shared (a shared scene's
tile grid is the one-process grid).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nivalis.avalanche.io.raster import BandSelection
from nivalis.avalanche.scenes import SceneInput, is_single_image, resolve_scenes
from nivalis.errors import UserError
from nivalis.files import atomic_write_text

MANIFEST = "manifest.json"
#: what a resumed scene must share with the run that mapped it, beside its input and checkpoint content
SETTINGS = ("refine", "threshold", "precision", "tile", "min_area_px", "bands", "simplify_m")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, UserError) and text else f"{type(exc).__name__}: {text or 'no message'}"[:300]


def _acquired(path: str) -> str | None:
    """A GeoTIFF's acquisition date-time from its TIFFTAG_DATETIME (`YYYY:MM:DD HH:MM:SS`), ISO 8601."""
    import re

    import rasterio

    try:
        with rasterio.open(path) as ds:
            text = ds.tags().get("TIFFTAG_DATETIME") or ds.tags().get("ACQUISITIONDATETIME")
    except Exception:  # a date is optional; the map was already written
        return None
    m = re.match(r"^(\d{4})[:-](\d{2})[:-](\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?", text or "")
    if not m:
        return None
    y, mo, d, hh, mm, ss = m.groups()
    return f"{y}-{mo}-{d}" + (f"T{hh}:{mm}:{ss}" if hh else "")


# ------------------------------------------------------------------------------------------------ manifest

def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("scenes"), list) else None


def _previous_done(out: Path, header: dict) -> dict[str, dict]:
    """Records of scenes done by an earlier run with the same checkpoint and settings whose outputs exist, by input
    content hash (manifest.json and any rank files a killed torchrun run left)."""
    done: dict[str, dict] = {}
    for path in [out / MANIFEST, *sorted(out.glob("manifest.rank*.json"))]:
        data = _read_manifest(path)
        if not data or data.get("checkpoint_sha256") != header["checkpoint_sha256"] \
                or data.get("settings") != header["settings"]:
            continue
        for rec in data["scenes"]:
            outputs = rec.get("outputs") or {}
            if rec.get("status") == "done" and rec.get("input_sha256") and outputs and \
                    all((out / p).exists() for p in outputs.values() if p):
                done[rec["input_sha256"]] = rec
    return done


def _write_manifest(path: Path, header: dict, records: list[dict]) -> None:
    atomic_write_text(path, json.dumps({**header, "scenes": records}, indent=1))


# ------------------------------------------------------------------------------------------------ one scene

def _agreed(step: Callable[[], Any]) -> list[Any]:
    """`step()` on every rank: every rank's value, in rank order; if any rank failed, the first failed rank's
    one-line error is raised on every rank (so that all take the same way after it)."""
    from nivalis.engine.distributed import gather_objects

    try:
        mine = (step(), None)
    except Exception as exc:
        mine = (None, _one_line(exc))
    answers = gather_objects(mine)
    errors = [e for _, e in answers if e]
    if errors:
        raise UserError(errors[0])
    return [v for v, _ in answers]


def _map_shared(path: str, classifier, partial: Path, options: dict, bands) -> tuple[dict | None, list[int]]:
    """Every rank maps its tiles of the scene into `partial/.parts`; rank 0 then writes the scene's outputs into
    `partial` from them. Returns rank 0's result (`predict_image`'s keys; None on the other ranks) and the ranks
    that mapped tiles."""
    from nivalis.avalanche.predict import mask_threshold, prediction_config
    from nivalis.avalanche.stream import map_tile_share, predict_geotiff_windowed
    from nivalis.engine.distributed import get_context

    ctx = get_context()
    parts = partial / ".parts"
    cfg = prediction_config(classifier, options["tile"])
    common = {"threshold": mask_threshold(classifier, options["threshold"], cfg), "precision": options["precision"],
              "bands": bands, "tile": options["tile"]}
    cells = _agreed(lambda: map_tile_share(classifier, path, parts, rank=ctx.rank, world=ctx.world_size, **common))
    ranks = [k for k, n in enumerate(cells) if n]
    if not ctx.is_main:
        return None, ranks
    result = predict_geotiff_windowed(classifier, path, partial, config=cfg, min_area_px=options["min_area_px"],
                                      simplify_m=options["simplify_m"], parts=parts, world=ctx.world_size, **common)
    shutil.rmtree(parts)
    return result, ranks


def _map_scene(scene: SceneInput, classifier, out: Path, options: dict, selection: BandSelection | None,
               digest: str | None = None, shared: int | None = None) -> dict | None:
    """Map one scene into OUT/scenes/<id>/ (whole or absent); its manifest record. `shared` (the run's token, the
    same on every rank): every rank calls this for the scene and maps its share of the tiles; rank 0 writes the
    outputs and returns the record, the others None."""
    from nivalis.avalanche.inputs import model_bands
    from nivalis.avalanche.predict import predict_image
    from nivalis.engine.distributed import get_context

    main = shared is None or get_context().is_main
    t0 = time.perf_counter()
    record = {"scene": scene.scene, "path": scene.path, "status": "failed", "seconds": 0.0, "outputs": {},
              "error": None, "input_sha256": None, "acquired": scene.acquired}
    final = out / "scenes" / scene.scene
    partial = out / "scenes" / f".{scene.scene}.{os.getpid() if shared is None else shared}.partial"

    def prepare():
        if scene.error:
            raise UserError(scene.error)
        if not Path(scene.path).is_file():
            raise UserError(f"image not found: {scene.path}")
        if main:
            record["input_sha256"] = digest or file_sha256(scene.path)
            shutil.rmtree(partial, ignore_errors=True)
        return scene.bands(model_bands(classifier), selection)

    try:
        if shared is None:
            result = predict_image(scene.path, classifier, partial, bands=prepare(), **options)
        else:
            result, ranks = _map_shared(scene.path, classifier, partial, options, _agreed(prepare)[get_context().rank])
            record["ranks"] = ranks
        if not main:
            return None
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        keys = ("probability", "mask", "overlay", "gpkg", "polygons")
        record["outputs"] = {k: str((final / Path(result[k]).name).relative_to(out)) for k in keys if result.get(k)}
        record.update(status="done", avalanches=result["avalanches"], height=result["height"],
                      width=result["width"], crs=result["crs"])
        if record["acquired"] is None:
            record["acquired"] = _acquired(scene.path)
    except Exception as exc:  # any scene's failure is recorded; the batch goes on
        record["error"] = _one_line(exc)
    finally:
        if main:
            shutil.rmtree(partial, ignore_errors=True)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record if main else None


# ------------------------------------------------------------------------------------------------ the batch

def shared_scenes(weights: Sequence[float], world_size: int, splittable: Callable[[int], bool]) -> list[int]:
    """The scenes (indices into `weights`) every rank maps together (see the module docstring): largest first, while
    `weight · world_size` exceeds the total weight of the scenes not yet shared, each one that is `splittable`
    (asked of those candidates only); none in one process."""
    if world_size <= 1:
        return []
    rest = float(sum(weights))
    shared = []
    for i in sorted(range(len(weights)), key=lambda i: (-float(weights[i]), i)):
        if float(weights[i]) * world_size <= rest:
            break
        if splittable(i):
            shared.append(i)
            rest -= float(weights[i])
    return sorted(shared)


def predict_batch(inputs: list[str | Path], checkpoint: str | Path, out_dir: str | Path, *, resume: bool = False,
                  asset: str | None = None, refine: str = "none", threshold: float | None = None,
                  precision: str = "fp32", tile: int | None = None, min_area_px: int = 16,
                  bands: BandSelection | str | list | None = None, simplify_m: float = 0.0) -> dict[str, Any]:
    """Map every scene of `inputs` (see the module docstring). Returns `scenes` (count), `done` (count, resumed
    ones included), `resumed`, `failed` (`[{scene, error}]`), `manifest`, `mosaic` (the VRT of the largest CRS
    group, None without georeferenced maps), `mosaics` (all), `gpkg`, `polygons`, `seconds`, `world_size`."""
    from nivalis.avalanche.models import load_classifier
    from nivalis.avalanche.mosaic import merge_polygons, write_mosaics
    from nivalis.avalanche.predict import prediction_config
    from nivalis.avalanche.stream import can_stream
    from nivalis.engine.distributed import broadcast_object, gather_objects, get_context, shard
    from nivalis.progress import bar

    t0 = time.perf_counter()
    ctx = get_context()
    out = Path(out_dir)
    scenes = resolve_scenes(list(inputs), asset=asset)
    classifier = checkpoint if not isinstance(checkpoint, (str, os.PathLike)) else load_classifier(checkpoint)
    selection = BandSelection.parse(bands)
    options = {"refine": refine, "threshold": threshold, "precision": precision, "tile": tile,
               "min_area_px": min_area_px, "simplify_m": simplify_m}
    header = {"version": 1, "checkpoint": str(checkpoint), "checkpoint_sha256":
              file_sha256(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else None,
              "settings": {**options, "bands": None if selection is None else str(selection)}}
    previous = _previous_done(out, header) if resume else {}

    # which scenes are done already: each rank hashes a round-robin share, the hashes are all-gathered
    def digest(s: SceneInput) -> str | None:
        try:
            return file_sha256(s.path) if previous and not s.error and Path(s.path).is_file() else None
        except OSError:
            return None

    mine = {i: digest(scenes[i]) for i in range(ctx.rank, len(scenes), ctx.world_size)}
    hashes = {i: h for part in gather_objects(mine) for i, h in part.items()}
    carried = {i: {**previous[h], "scene": scenes[i].scene, "resumed": True}
               for i, h in hashes.items() if h in previous}
    pending = [i for i in range(len(scenes)) if i not in carried]
    sizes = [Path(scenes[i].path).stat().st_size if Path(scenes[i].path).is_file() else 0 for i in pending]
    config = prediction_config(classifier, options["tile"])
    together = [pending[k] for k in shared_scenes(sizes, ctx.world_size, lambda k: not scenes[pending[k]].error and
                                                  can_stream(classifier, scenes[pending[k]].path, refine, config))]
    alone = [k for k, i in enumerate(pending) if i not in together]
    todo = [pending[alone[k]] for k in shard([sizes[k] for k in alone], ctx)]
    token = broadcast_object(os.getpid())  # rank 0's: names the folder every rank writes a shared scene's parts in

    own_manifest = out / (MANIFEST if not ctx.enabled else f"manifest.rank{ctx.rank}.json")
    records: dict[int, dict] = dict(carried) if ctx.is_main else {}
    progress = bar(len(together) + len(todo), "scenes")
    for i in together:
        record = _map_scene(scenes[i], classifier, out, options, selection, hashes.get(i), shared=token)
        if record is not None:
            records[i] = {**record, "rank": "all"}
            _write_manifest(own_manifest, header, [records[k] for k in sorted(records)])
        progress.update(1)
    for i in todo:
        records[i] = {**_map_scene(scenes[i], classifier, out, options, selection, hashes.get(i)), "rank": ctx.rank}
        _write_manifest(own_manifest, header, [records[k] for k in sorted(records)])
        progress.update(1)
    progress.close()

    merged = {i: r for part in gather_objects(records) for i, r in part.items()}
    result = None
    if ctx.is_main:
        ordered = [merged[i] for i in range(len(scenes))]
        _write_manifest(out / MANIFEST, header, ordered)
        for p in out.glob("manifest.rank*.json"):
            p.unlink(missing_ok=True)
        for p in (out / "scenes").glob(".*.partial"):  # left by killed runs; every rank is past its scenes now
            shutil.rmtree(p, ignore_errors=True)
        result = _merge_outputs(ordered, out, merge_polygons, write_mosaics)
        result.update(seconds=round(time.perf_counter() - t0, 3), world_size=ctx.world_size)
    return broadcast_object(result)


def _merge_outputs(records: list[dict], out: Path, merge_polygons, write_mosaics) -> dict[str, Any]:
    done = [r for r in records if r["status"] == "done"]
    failed = [{"scene": r["scene"], "error": r["error"]} for r in records if r["status"] != "done"]
    mosaics = write_mosaics([out / r["outputs"]["probability"] for r in done], out) if done else []
    gpkg, polygons = (None, 0)
    if done:
        gpkg, polygons = merge_polygons([(r["scene"], r.get("acquired"), out / r["outputs"]["gpkg"]) for r in done],
                                        out / "avalanches.gpkg")
    return {"scenes": len(records), "done": len(done), "resumed": sum(bool(r.get("resumed")) for r in done),
            "failed": failed, "manifest": str(out / MANIFEST), "mosaic": str(mosaics[0]) if mosaics else None,
            "mosaics": [str(p) for p in mosaics], "gpkg": str(gpkg) if gpkg else None, "polygons": polygons}


def exit_code(result: dict[str, Any]) -> int:
    """The exit status of a predict run: 0 when every scene was mapped (and for one image), 1 when some scenes
    failed, 2 when all did; a nonzero status is explained in one `error:` line on stderr (rank 0 only)."""
    import sys

    from nivalis.engine.distributed import get_context

    failed = result.get("failed") or []
    if not failed or not get_context().is_main:
        return 0
    first = f"{failed[0]['scene']}: {failed[0]['error']}"
    more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
    print(f"error: {len(failed)} of {result['scenes']} scenes failed ({first}{more}); see {result['manifest']}",
          file=sys.stderr)
    return 2 if len(failed) >= result["scenes"] else 1


def predict_paths(inputs: list[str | Path], checkpoint: str | Path, out_dir: str | Path, **options) -> dict[str, Any]:
    """`nivalis avalanche predict`: one image → `predict_image` (its outputs straight in `out_dir`, on rank 0 under
    torchrun); anything else → `predict_batch`."""
    if is_single_image(inputs):
        from nivalis.avalanche.predict import predict_image
        from nivalis.engine.distributed import broadcast_object, get_context

        resume, asset = options.pop("resume", False), options.pop("asset", None)
        if resume or asset:
            raise UserError("--resume and --asset apply to batches (folders, globs, lists, STAC catalogs)")
        ctx = get_context()
        result = predict_image(inputs[0], checkpoint, out_dir, **options) if ctx.is_main else None
        return broadcast_object(result)
    return predict_batch(inputs, checkpoint, out_dir, **options)
