"""Windows around pixels (seed 002 §3.2) and a streamed, class-balanced window data set for training.

The window of pixel :math:`(i, j)` of an image padded by reflection is

.. math::
    X_{ij} = \\mathrm{pad}_{\\mathrm{reflect}}(V, b)[i : i + h,\\; j : j + h],\\qquad b = (h - 1) / 2,

and its label is the mask at the centre, :math:`y_{ij} = \\mathbb{1}[m(i, j) \\ge 127]`. For an even
window (IRNv2's 76) the padding is :math:`\\lfloor (h-1)/2 \\rfloor` before and :math:`\\lceil (h-1)/2 \\rceil`
after, so the centre is the upper-left of the four middle pixels.

Materialising every window is what made the seed's approach impossible (§3.2: :math:`O(m \\cdot N)`
bytes, ~10^19 for a 4256 × 3694 scene). Here images stay in memory (they are small); windows are cut
on demand, a chunk at a time, from a zero-copy `sliding_window_view`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch.utils.data import IterableDataset

from nivalis.avalanche.io.layout import Scene
from nivalis.avalanche.io.raster import to_channels
from nivalis.engine import get_context
from nivalis.engine.seed import epoch_seed
from nivalis.errors import UserError


def pad_widths(window: int) -> tuple[int, int]:
    """Reflection padding (before, after) so that every pixel has a full window; (b, b) for odd windows."""
    return (window - 1) // 2, window // 2


def pad_image(image: np.ndarray, window: int) -> np.ndarray:
    """[H, W, C] → [H + h − 1, W + h − 1, C] padded by reflection (numpy 'reflect': edge pixel not repeated)."""
    before, after = pad_widths(window)
    return np.pad(image, ((before, after), (before, after), (0, 0)), mode="reflect")


def window_at(image: np.ndarray, i: int, j: int, window: int) -> np.ndarray:
    """The window of pixel (i, j): the seed's definition, for reference and tests ([h, h, C])."""
    return pad_image(image, window)[i:i + window, j:j + window]


def window_view(padded: np.ndarray, window: int) -> np.ndarray:
    """Zero-copy view [H, W, h, h, C] of every window of a padded image."""
    view = sliding_window_view(padded, (window, window), axis=(0, 1))  # [H, W, C, h, h]
    return view.transpose(0, 1, 3, 4, 2)


def extract_windows(padded: np.ndarray, rows: np.ndarray, cols: np.ndarray, window: int) -> np.ndarray:
    """Windows [N, h, h, C] (a copy, the image's dtype) of pixels (rows[k], cols[k]) of the image that `padded` pads."""
    return np.ascontiguousarray(window_view(padded, window)[rows, cols])


class WindowStream(IterableDataset):
    """Class-balanced windows drawn afresh each epoch from images held in memory.

    Each epoch yields `windows_per_epoch` `(prepared window [C, h, h], label)` pairs: a fraction
    `positive_fraction` centred on avalanche pixels (chosen uniformly among all avalanche pixels of
    all scenes), the rest on non-avalanche pixels (uniform over the scenes' area, by rejection).
    With `fixed=True` every pass yields the same windows (a validation set); otherwise the draw
    depends on `(seed, epoch)` through `set_epoch`, which the engine calls, so runs repeat exactly.
    Under torchrun each rank draws its own share of a training stream; a fixed stream is whole on every rank.
    With `segmentation=True` the target is the mask
    window [h, h] (a tile for a segmentation network) instead of its centre value.
    """

    def __init__(self, scenes: Sequence[Scene], window: int, channels: int, windows_per_epoch: int, *,
                 prepare: Callable[[np.ndarray], torch.Tensor], positive_fraction: float = 0.5, seed: int = 0,
                 fixed: bool = False, chunk: int = 512, segmentation: bool = False):
        if not scenes:
            raise UserError("no scenes to draw windows from")
        if any(s.avalanche_mask is None for s in scenes):
            raise UserError("every training scene needs a mask")
        self.window, self.channels = window, channels
        self.padded = [pad_image(to_channels(s.image, channels, f"image {s.name}"), window) for s in scenes]
        dtypes = {p.dtype.name for p in self.padded}
        if len(dtypes) > 1:
            raise UserError(f"the scenes mix pixel types {', '.join(sorted(dtypes))}")
        self.dtype = self.padded[0].dtype
        # nodata pixels are never a window's centre: labels exclude them, sampling skips them
        self.valid = [s.valid for s in scenes]
        self.masks = [s.avalanche_mask if s.valid is None else s.avalanche_mask & s.valid for s in scenes]
        self.segmentation = segmentation
        self.padded_masks = [pad_image(m[..., None], window) for m in self.masks] if segmentation else None
        self.positives = [np.flatnonzero(m) for m in self.masks]
        self.n_positive = np.array([len(p) for p in self.positives], dtype=np.int64)
        self.areas = np.array([m.size if v is None else int(v.sum()) for m, v in zip(self.masks, self.valid)],
                              dtype=np.float64)
        self.sizes = np.array([m.size for m in self.masks], dtype=np.int64)
        if self.n_positive.sum() == 0 and positive_fraction > 0:
            raise UserError("no avalanche pixel in any of these scenes: a classifier cannot learn the positive class")
        if (self.areas - self.n_positive).sum() == 0:
            raise UserError("every pixel of these scenes is avalanche: nothing to learn the negative class from")
        self.windows_per_epoch = int(windows_per_epoch)
        self.prepare, self.positive_fraction = prepare, positive_fraction
        self.seed, self.fixed, self.chunk = seed, fixed, chunk
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rank(self) -> tuple[int, int]:
        # a fixed (validation/test) stream is the same set on every process, as `evaluate` expects
        ctx = get_context()
        return (0, 1) if self.fixed else (ctx.rank, ctx.world_size)

    def __len__(self) -> int:
        rank, world = self._rank()
        return len(range(rank, self.windows_per_epoch, world))

    def _draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_pos = int(round(n * self.positive_fraction)) if self.n_positive.sum() else 0
        scene = np.empty(n, np.int64)
        flat = np.empty(n, np.int64)
        if n_pos:
            pick = rng.integers(0, self.n_positive.sum(), n_pos)  # uniform over all avalanche pixels
            scene[:n_pos] = np.searchsorted(np.cumsum(self.n_positive), pick, side="right")
            offset = pick - np.concatenate([[0], np.cumsum(self.n_positive)])[scene[:n_pos]]
            flat[:n_pos] = [self.positives[s][o] for s, o in zip(scene[:n_pos], offset)]
        filled = n_pos
        while filled < n:  # negatives by rejection: avalanches cover a small part of a scene
            need = n - filled
            cand_scene = rng.choice(len(self.masks), size=2 * need + 8, p=self.areas / self.areas.sum())
            cand_flat = (rng.random(cand_scene.size) * self.sizes[cand_scene]).astype(np.int64)
            ok = np.array([not self.masks[s].flat[f] and (self.valid[s] is None or self.valid[s].flat[f])
                           for s, f in zip(cand_scene, cand_flat)], dtype=bool)
            take = min(need, int(ok.sum()))
            scene[filled:filled + take] = cand_scene[ok][:take]
            flat[filled:filled + take] = cand_flat[ok][:take]
            filled += take
        labels = np.array([self.masks[s].flat[f] for s, f in zip(scene, flat)], dtype=np.float32)
        order = rng.permutation(n)
        return scene[order], flat[order], labels[order]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = 0 if self.fixed else self.epoch
        rng = np.random.default_rng([epoch_seed(self.seed, epoch), self._rank()[0]])
        remaining = len(self)
        while remaining > 0:
            n = min(self.chunk, remaining)
            remaining -= n
            scene, flat, labels = self._draw(rng, n)
            windows = np.empty((n, self.window, self.window, self.channels), self.dtype)
            tiles = np.empty((n, self.window, self.window, 1), bool) if self.segmentation else None
            for s in np.unique(scene):
                sel = scene == s
                rows, cols = np.divmod(flat[sel], self.masks[s].shape[1])
                windows[sel] = extract_windows(self.padded[s], rows, cols, self.window)
                if tiles is not None:
                    tiles[sel] = extract_windows(self.padded_masks[s], rows, cols, self.window)
            x = self.prepare(windows)
            y = torch.from_numpy(tiles[..., 0].astype(np.float32) if tiles is not None else labels)
            yield from zip(x, y)

