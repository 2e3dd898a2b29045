"""Binary label images traced into layer rows: by order in each column where the run count holds, aligned where it changes.

A label image of seed 000 (§III) is binary, white = the top of a firn layer, lines 1–2 px thick; its authors
read layer k of a column as the k-th white run from the top. Hand-drawn lines are jagged: a layer may step by
a good part of the layer spacing between adjacent columns, so nearness alone cannot follow it. The columns are
read from the left:

1. in every column, each run of white pixels is one pick; its top row is the layer's row there;
2. a column with as many runs as the previous one continues the previous column's layers *by order* (the k-th
   run continues the layer of the previous k-th run), whatever the step, unless the alignment of rule 3 costs
   less than the order does (a line that ends in the column where another one starts);
3. where the count changes (a gap in a line, a layer that starts or ends, a speck of label noise) the runs
   :math:`r_1 < \\dots < r_n` are aligned to the known layers :math:`1 \\dots m` (top-down, predicted rows
   :math:`p_j`) by the order-preserving alignment of least cost

   .. math::
       \\sum_{(i, j)\\ \\text{matched}} |r_i - (p_j + s)| + P \\cdot (\\#\\text{unmatched runs} + \\#\\text{unmatched layers})

   (dynamic programming), with :math:`P` half the median spacing of the layers seen in the previous column (at
   least ``TRACK_TOLERANCE_PX``) and :math:`s` the common step: 0, or the median step of a first alignment,
   whichever costs less. So that a jagged line's own steps average out, :math:`r_i` is the median over the next
   columns of the same count and :math:`p_j` the median of the layer's last picks (at most ``SMOOTH_COLUMNS``
   each), both less the common offset of their column (the running sum of the median step of each run from
   the nearest run of the previous column). A layer not seen in a column moves by the step of its nearest seen
   neighbours (interpolated by order). An unmatched run starts a new layer, placed among the unseen layers by
   its row;
4. layers with fewer than ``MIN_TRACK_COLUMNS`` picks are label noise and dropped (and, once absent for more than
   ``BRIDGE_COLUMNS`` + 1 columns, no longer aligned to);
5. gaps of at most ``BRIDGE_COLUMNS`` columns inside a layer are bridged by linear interpolation; longer gaps
   stay NaN; layers keep their top-down order, so row 0 is the surface.

A step larger than ``TRACK_TOLERANCE_PX`` is no reason to drop a radargram: the reader says it in a note and
`nivalis snow inspect` reports every radargram's ``max_step_px``.
"""

from __future__ import annotations

import numpy as np

BRIDGE_COLUMNS = 8          # gaps up to this many columns inside a traced layer are interpolated
TRACK_TOLERANCE_PX = 3      # the least alignment cost P of an unmatched run or layer, and the step reported as large
MIN_TRACK_COLUMNS = 3       # shorter traces are label noise
SMOOTH_COLUMNS = 5          # rules 2-3 compare rows as medians over at most this many columns


def run_tops(column: np.ndarray) -> np.ndarray:
    """Top rows of the runs of True in a boolean column, top-down."""
    padded = np.concatenate([[False], column])
    return np.flatnonzero(padded[1:] & ~padded[:-1]).astype(np.float64)


def _median(values: np.ndarray) -> float:
    """The median of a small array (np.median's overhead dominates at the few dozen values of one column)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64), axis=None)
    n = ordered.size
    return float(ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0


def align(runs: np.ndarray, predicted: np.ndarray, skip_cost: float) -> tuple[np.ndarray, float]:
    """(layer index of each run or −1, cost) of the least-cost order-preserving alignment of `runs` to `predicted`.

    A match costs ``|run − prediction|``, an unmatched run or layer `skip_cost`.
    """
    n, m = runs.size, predicted.size
    cols = np.arange(m + 1)
    cost = np.empty((n + 1, m + 1))
    cost[0] = cols * skip_cost
    matched = np.zeros((n + 1, m + 1), dtype=bool)      # reached (i, k) by matching run i to layer k
    came_from = np.zeros((n + 1, m + 1), dtype=np.int64)  # (i, j) is (i, k) then layers k+1..j unmatched
    for i in range(1, n + 1):
        best = cost[i - 1] + skip_cost                   # run i unmatched
        match = np.full(m + 1, np.inf)
        match[1:] = cost[i - 1, :-1] + np.abs(runs[i - 1] - predicted)
        matched[i] = match < best
        best = np.minimum(best, match)
        shifted = best - cols * skip_cost                # then skip layers: min over k <= j of best[k] + (j-k) P
        low = np.minimum.accumulate(shifted)
        came_from[i] = np.maximum.accumulate(np.where(shifted <= low, cols, 0))
        cost[i] = low + cols * skip_cost
    out = np.full(n, -1, dtype=np.int64)
    i, j = n, m
    while i > 0:
        k = came_from[i, j]
        if matched[i, k]:
            out[i - 1] = k - 1
            j = k - 1
        else:
            j = k
        i -= 1
    return out, float(cost[n, m])


def _align_shifted(runs: np.ndarray, predicted: np.ndarray, skip_cost: float) -> tuple[np.ndarray, float]:
    """`align` without a common step, then with the median step of its matches; the cheaper of the two."""
    first, cost = align(runs, predicted, skip_cost)
    ok = first >= 0
    if not ok.any():
        return first, cost
    step = _median(runs[ok] - predicted[first[ok]])
    if step == 0:
        return first, cost
    second, cost2 = align(runs, predicted + step, skip_cost)
    return (second, cost2) if cost2 < cost else (first, cost)


def common_offsets(tops: list[np.ndarray]) -> np.ndarray:
    """The common row offset of every column from the first: the sum of the median steps of its runs from the nearest
    run of the previous column (nearest, not by order: a line that ends where another starts shifts the order)."""
    offset = np.zeros(len(tops))
    for c in range(1, len(tops)):
        a, b = tops[c - 1], tops[c]
        step = 0.0
        if a.size and b.size:
            step = _median(b - a[np.abs(b[:, None] - a[None, :]).argmin(axis=1)])
        offset[c] = offset[c - 1] + step
    return offset


class _Layers:
    """The layers traced so far: picks per column, predicted rows, and the top-down order of those still aligned to."""

    def __init__(self, tops: list[np.ndarray]):
        self.tops, self.width = tops, len(tops)
        self.offset = common_offsets(tops)
        self.rows: list[np.ndarray] = []        # per layer, its row in every column (NaN where not picked)
        self.predicted: list[float] = []        # per layer, the row expected in the next column
        self.recent: list[list[float]] = []     # per layer, its last SMOOTH_COLUMNS picks less the common offset
        self.first: list[int] = []              # per layer, the first column it was picked in
        self.last: list[int] = []               # per layer, the last column it was picked in
        self.picks: list[int] = []              # per layer, how many columns it was picked in
        self.active: list[int] = []             # layer ids aligned to, top-down

    def new(self, row: float, col: int) -> int:
        self.rows.append(np.full(self.width, np.nan))
        self.predicted.append(row)
        self.recent.append([])
        self.first.append(col)
        self.last.append(col)
        self.picks.append(0)
        return len(self.rows) - 1

    def skip_cost(self, previous: list[int], runs: np.ndarray) -> float:
        rows = np.sort([self.predicted[k] for k in previous]) if len(previous) > 1 else runs
        gaps = np.diff(rows)
        spacing = _median(gaps) if gaps.size else 4.0 * TRACK_TOLERANCE_PX
        return max(float(TRACK_TOLERANCE_PX), 0.5 * spacing)

    def smoothed_runs(self, col: int) -> np.ndarray:
        """The runs of `col`, each the median over the next columns of equal count (at most SMOOTH_COLUMNS)."""
        n, same = self.tops[col].size, []
        for c in range(col, min(self.width, col + SMOOTH_COLUMNS)):
            if self.tops[c].size != n:
                break
            same.append(self.tops[c] - self.offset[c])
        return np.median(np.stack(same), axis=0) + self.offset[col]

    def smoothed_prediction(self, k: int, col: int) -> float:
        """Layer `k`'s row expected in `col`: the median of its last picks where it was seen in the previous column."""
        if self.last[k] != col - 1 or not self.recent[k]:
            return self.predicted[k]
        return _median(np.array(self.recent[k])) + float(self.offset[col])

    def assign(self, runs: np.ndarray, previous: list[int], col: int) -> list[int]:
        """Layer id of each run of column `col` (rules 2 and 3); new layers are placed in the order."""
        if not runs.size:
            return []
        skip = self.skip_cost(previous, runs)
        if runs.size == len(previous):
            residual = runs - np.array([self.predicted[k] for k in previous])
            if np.abs(residual - _median(residual)).max() <= skip:
                return list(previous)
        smooth = self.smoothed_runs(col)
        predicted = np.array([self.smoothed_prediction(k, col) for k in self.active])
        match, cost = _align_shifted(smooth, predicted, skip)
        if runs.size == len(previous):                  # by order unless aligning is cheaper on the smoothed rows
            residual = smooth - np.array([self.smoothed_prediction(k, col) for k in previous])
            by_order = np.abs(residual - _median(residual)).sum() + skip * (len(self.active) - len(previous))
            if cost >= by_order:
                return list(previous)
        ids = [-1] * runs.size
        order: list[int] = []
        pos, pending = 0, []
        for i, j in enumerate(match):                   # new layers slot in between the matched ones, by row
            if j < 0:
                pending.append(i)
                continue
            order += self._merge(self.active[pos:j], pending, runs, ids, col)
            ids[i] = self.active[j]
            order.append(ids[i])
            pos, pending = j + 1, []
        self.active = order + self._merge(self.active[pos:], pending, runs, ids, col)
        return ids

    def _merge(self, unseen: list[int], pending: list[int], runs: np.ndarray, ids: list[int], col: int) -> list[int]:
        """Layers `unseen` in this column (in their order) and new layers for the runs `pending`, merged by row."""
        out: list[int] = []
        queue = list(unseen)
        for i in pending:
            while queue and self.predicted[queue[0]] <= runs[i]:
                out.append(queue.pop(0))
            ids[i] = self.new(float(runs[i]), col)
            out.append(ids[i])
        return out + queue

    def record(self, ids: list[int], runs: np.ndarray, col: int) -> None:
        """Store the picks of column `col`; unseen layers move with their seen neighbours; noise leaves the order."""
        position = {k: n for n, k in enumerate(self.active)}
        seen = sorted((position[k], row - self.predicted[k]) for k, row in zip(ids, runs) if self.first[k] != col)
        for k, row in zip(ids, runs):
            self.rows[k][col] = row
            self.predicted[k] = float(row)
            self.recent[k] = [*self.recent[k][1 - SMOOTH_COLUMNS:], float(row - self.offset[col])]
            self.last[k] = col
            self.picks[k] += 1
        if seen:
            where, step = (np.array(v, dtype=np.float64) for v in zip(*seen))
            moved = np.interp(np.arange(len(self.active)), where, step)
            for n, k in enumerate(self.active):
                if self.last[k] != col:
                    self.predicted[k] += float(moved[n])
        self.active = [k for k in self.active
                       if col - self.last[k] <= BRIDGE_COLUMNS + 1 or self.picks[k] >= MIN_TRACK_COLUMNS]


def bridge(row: np.ndarray) -> np.ndarray:
    """`row` with gaps of at most `BRIDGE_COLUMNS` columns between picks linearly interpolated."""
    cols = np.flatnonzero(np.isfinite(row))
    out = row.copy()
    for a, b in zip(cols[:-1], cols[1:]):
        if 1 < b - a <= BRIDGE_COLUMNS + 1:
            out[a + 1:b] = np.interp(np.arange(a + 1, b), [a, b], [row[a], row[b]])
    return out


def trace_label_image(mask: np.ndarray) -> np.ndarray:
    """[L, W] layer rows traced from a boolean label image (white = layer top), top-down, NaN where absent."""
    mask = np.asarray(mask, dtype=bool)
    width = mask.shape[1]
    tops = [run_tops(mask[:, col]) for col in range(width)]
    layers = _Layers(tops)
    previous: list[int] = []
    for col, runs in enumerate(tops):
        ids = layers.assign(runs, previous, col)
        layers.record(ids, runs, col)
        previous = ids
    kept = [layers.rows[k] for k in layers.active if layers.picks[k] >= MIN_TRACK_COLUMNS]
    if not kept:
        return np.full((0, width), np.nan)
    return np.stack([bridge(row) for row in kept])


__all__ = ["BRIDGE_COLUMNS", "MIN_TRACK_COLUMNS", "TRACK_TOLERANCE_PX", "align", "bridge", "run_tops",
           "trace_label_image"]
