"""Linear maps along one axis, given as (out × in) matrices: resizing, and selecting or reversing elements."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def repeat_factor(matrix: np.ndarray) -> int | None:
    """f when ``matrix`` repeats every input element f times in order (nearest ×f), else None."""
    rows, cols = matrix.shape
    if rows % cols or not np.array_equal(matrix, np.repeat(np.eye(cols), rows // cols, axis=0)):
        return None
    return rows // cols


def apply_matrices(x: torch.Tensor, matrices: dict[int, np.ndarray]) -> torch.Tensor:
    """x with each axis in ``matrices`` mapped by its matrix: y[.., i, ..] = Σ_j M[i, j]·x[.., j, ..].

    Integer repeats of both spatial axes of a 4-D tensor become ``F.interpolate(mode="nearest")`` (lowered to
    a depthwise Deconvolution); other maps ``matmul`` with the constant matrix (a 1×1 Convolution), the axis
    moved last and back. Identity matrices are skipped. Exact for 0/1 matrices (selection)."""
    spatial = list(range(2, x.dim()))
    factors = {axis: repeat_factor(matrix) for axis, matrix in matrices.items()}
    if x.dim() == 4 and set(matrices) <= set(spatial) and None not in factors.values():
        scale = tuple(float(factors.get(axis, 1)) for axis in spatial)
        return x if scale == (1.0, 1.0) else F.interpolate(x, scale_factor=scale, mode="nearest")
    for axis, matrix in matrices.items():
        if matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, np.eye(len(matrix))):
            continue
        weight = torch.from_numpy(np.ascontiguousarray(matrix.T)).to(x.dtype)
        last = axis == x.dim() - 1
        moved = x if last else x.transpose(axis, -1)
        moved = torch.matmul(moved, weight)
        x = moved if last else moved.transpose(axis, -1)
    return x


def select(x: torch.Tensor, axis: int, indices: list[int]) -> torch.Tensor:
    """x[.., indices, ..] along ``axis`` (any order, repeats allowed): runs of consecutive indices as slices
    joined by ``cat`` when there are few runs, else one 0/1 selection matrix."""
    runs, start = [], 0
    for k in range(1, len(indices) + 1):
        if k == len(indices) or indices[k] != indices[k - 1] + 1:
            runs.append((indices[start], indices[k - 1] + 1))
            start = k
    if len(runs) <= 4:
        prefix = (slice(None),) * axis
        parts = [x[prefix + (slice(a, b),)] for a, b in runs]
        return parts[0] if len(parts) == 1 else torch.cat(parts, axis)
    matrix = np.zeros((len(indices), x.shape[axis]))
    matrix[np.arange(len(indices)), indices] = 1.0
    return apply_matrices(x, {axis: matrix})
