"""ScatterND with constant indices that cover a box (index assignment such as ``y[..., 0:2] = v``, which
torch.onnx writes as ScatterND)."""
from __future__ import annotations

import numpy as np
import torch

from ..registry import converts


def _box(indices: np.ndarray, shape) -> tuple | None:
    """The index tuple (a slice or a list per indexed axis) when ``indices`` (…, k) enumerate the cartesian
    product of one increasing index list per axis in row-major order; else None."""
    k = indices.shape[-1]
    flat = indices.reshape(-1, k) % np.array(shape[:k])
    values = [np.unique(flat[:, axis]) for axis in range(k)]
    grid = np.stack(np.meshgrid(*values, indexing="ij"), -1).reshape(-1, k)
    if grid.shape != flat.shape or not np.array_equal(grid, flat):
        return None
    box = []
    for picked in values:
        contiguous = np.array_equal(picked, np.arange(picked[0], picked[-1] + 1))
        box.append(slice(int(picked[0]), int(picked[-1]) + 1) if contiguous else None)
    return None if None in box else tuple(box)


@converts("ScatterND")
def scatter_nd(ctx, data, indices, updates):
    """data with ``updates`` written at ``indices`` (ONNX ScatterND). Constant indices forming a box of
    contiguous ranges: a copy of data with that box assigned (lowered as Slice + Concat around it)."""
    if ctx.attr("reduction", "none") != "none":
        raise ctx.fail(f"reduction {ctx.attr('reduction')!r} is not supported")
    if all(ctx.static):
        result = data.clone()
        index = torch.as_tensor(indices).long()
        result[tuple(index[..., axis] for axis in range(index.shape[-1]))] = updates
        return result
    index = np.array(ctx.const([data, indices, updates], 1, "indices"), dtype=np.int64)
    box = _box(index, tuple(data.shape))
    if box is None:
        raise ctx.fail("its indices do not cover a box of contiguous ranges: only index assignments of slices "
                       "are supported")
    sizes = tuple(s.stop - s.start for s in box)
    result = data.clone()
    result[box] = updates.reshape(sizes + tuple(data.shape[len(box):]))
    return result
