"""Matrices applied along axes: y = M·x on any axis (1×1 Convolution on a channel view), and the
InnerProduct that contracts trailing axes.

Every function emits layers through an :class:`~pt2caffe.lowering.context.OpContext` and returns
the resulting blob. ``role`` names helper layers (``<op name>/<role>``); ``role=None`` marks the op's
own, final layer.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...net.builder import Blob, Weight
from ..choice import Form
from .channels import block_on_channels
from .layout import reshape_any_batch


# Largest two-axis (Kronecker) matrix applied in one pass (a 1×1 Convolution) instead of a separable pass.
KRONECKER_LIMIT = 1 << 16


def apply_axis_matrices(ctx, x: Blob, matrices: dict[int, np.ndarray], what: str, *, fill: float = 0.0,
                        role: str | None = None) -> Blob:
    """Mix ``x`` along axes: y[.., i, ..] = Σ_j M[i, j]·x[.., j, ..] for each ``axis: M`` (M is out × in).

    Each axis but the last becomes the channels of a view: Reshape to (−1, in, rest, 1), a 1×1 Convolution
    with weights (out, in, 1, 1), Reshape back; the last axis is the columns of a (rows, in) view, one
    InnerProduct (``inner_product``). Caffe's Reshape shares memory, so no element is moved (a Permute is
    slow in Caffe), and no InnerProduct with axis ≠ 1 is needed (MNN gives empty outputs for it). When only the last
    two axes change and kron(M_rows, M_cols) is small, one such Convolution on both does it all.
    Otherwise the axes that shrink go first. An all-zero row of M yields ``fill`` (a bias of the
    layer, 0 elsewhere): what a padding constant needs, on the union of the borders. 0/1 matrices
    (selection) are exact in float; others cost one rounding per product, as PyTorch's kernels do.
    """
    matrices = {axis: m for axis, m in matrices.items() if not _is_identity(m)}
    if not matrices:
        return x
    views = Form("channel views", lambda ctx: _by_views(ctx, x, matrices, what, fill, role))
    if len(x.shape) != 4 or not set(matrices) <= {2, 3}:
        return ctx.choose(views)
    return ctx.choose(views, Form("rotations", lambda ctx: _by_rotation(ctx, x, matrices, what, fill, role)))


def _by_views(ctx, x: Blob, matrices: dict[int, np.ndarray], what: str, fill: float, role: str | None) -> Blob:
    last = len(x.shape) - 1
    if last - 1 >= 1 and last - 1 in matrices and set(matrices) <= {last - 1, last}:
        rows, cols = matrices[last - 1], matrices.get(last, np.eye(x.shape[last]))
        if rows.size * cols.size <= KRONECKER_LIMIT:
            return _inner_product(ctx, x, np.kron(rows, cols), last - 1, f"{what} (both axes)", fill, role=role,
                                  shape=x.shape[:-2] + (rows.shape[0], cols.shape[0]))
    order = sorted(matrices, key=lambda axis: matrices[axis].shape[0] / matrices[axis].shape[1])
    for i, axis in enumerate(order):
        is_final = i == len(order) - 1
        x = _apply_on_axis(ctx, x, axis, matrices[axis], what, fill,
                           role if is_final else f"{role or 'axes'}/axis{axis}")
    return x


def _by_rotation(ctx, x: Blob, matrices: dict[int, np.ndarray], what: str, fill: float, role: str | None) -> Blob:
    """The matrices of H and W on a 4-D blob with the batch kept in place: Permute (0, 2, 3, 1) turns
    (N, C, H, W) into (N, H, W, C) (the one order NNIE takes; three make the identity), so H, then W
    come onto the channel axis, where a 1×1 Convolution applies the matrix; the third Permute restores
    the order. For targets that refuse views across the batch (NNIE, ncnn)."""
    tag = role or "axes"
    rotate = {"permute_param": {"order": [0, 2, 3, 1]}}
    for step, axis in enumerate((2, 3, 1)):
        shape = (x.shape[0],) + x.shape[2:] + x.shape[1:2]
        x = ctx.layer("Permute", [x], rotate, role=role if step == 2 else f"{tag}/rotate{step}", shape=shape)
        if axis in matrices:
            matrix = matrices[axis]
            bias_term, weights = _matrix_weights(ctx, matrix, what, fill, matrix.shape + (1, 1))
            params = {"convolution_param": {"num_output": matrix.shape[0], "kernel_size": [1], "bias_term": bias_term}}
            x = ctx.layer("Convolution", [x], params, role=f"{tag}/axis{axis}", weights=weights,
                          shape=(x.shape[0], matrix.shape[0]) + x.shape[2:])
    return x


def _is_identity(matrix: np.ndarray) -> bool:
    return matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, np.eye(matrix.shape[0]))


def _matrix_weights(ctx, matrix: np.ndarray, what: str, fill: float, weight_shape: tuple[int, ...]):
    """(``bias_term``, weight blobs): the matrix, plus ``fill`` on its all-zero rows when nonzero."""
    weights = [ctx.constant(matrix.reshape(weight_shape), f"{what} (out × in)")]
    empty_rows = ~matrix.any(axis=1)
    if fill == 0.0 or not empty_rows.any():
        return False, weights
    return True, weights + [ctx.constant(np.where(empty_rows, fill, 0.0), f"{fill} where {what} reads nothing")]


def _apply_on_axis(ctx, x: Blob, axis: int, matrix: np.ndarray, what: str, fill: float, role: str | None) -> Blob:
    last = len(x.shape) - 1
    if axis == last:
        return _inner_product(ctx, x, matrix, last, what, fill, role=role)
    tag = role or f"axis{axis}"
    rest = int(np.prod(x.shape[axis + 1:]))
    out_shape = x.shape[:axis] + (matrix.shape[0],) + x.shape[axis + 1:]
    bias_term, weights = _matrix_weights(ctx, matrix, what, fill, matrix.shape + (1, 1))
    params = {"convolution_param": {"num_output": matrix.shape[0], "kernel_size": [1], "bias_term": bias_term}}
    if len(x.shape) == 4 and axis == 1:
        return ctx.layer("Convolution", [x], params, role=role, shape=out_shape, weights=weights)

    def mix(ctx, blob):
        return ctx.layer("Convolution", [blob], params, role=f"{tag}/matrix",
                         shape=blob.shape[:1] + (matrix.shape[0],) + blob.shape[2:], weights=weights)

    def folded(ctx):
        return reshape_any_batch(ctx, mix(ctx, reshape_any_batch(ctx, x, (x.shape[axis], rest, 1),
                                                                 role=f"{tag}/as_channels")), out_shape[1:], role=role)
    return _batch_kept_too(ctx, folded, x, axis, axis + 1, mix, out_shape, role)


def _batch_kept_too(ctx, folded, x: Blob, start: int, stop: int, apply, shape, role):
    """``folded(ctx)`` (the block on the channels of a view folding the leading axes into the batch's), or
    the same layers with the batch kept in place (compose.channels) where the target needs that."""
    if start == 0:
        return folded(ctx)
    return ctx.choose(Form("batch-folding view", folded),
                      Form("batch kept", lambda ctx: block_on_channels(ctx, x, start, stop, apply, shape, role=role)))


def _inner_product(ctx, x: Blob, matrix: np.ndarray, axis: int, what: str, fill: float, *,
                   role: str | None, shape: tuple[int, ...] | None = None) -> Blob:
    """``inner_product`` contracting axes ``axis``… of ``x`` with ``matrix`` (out × their element count)."""
    _, weights = _matrix_weights(ctx, matrix, what, fill, matrix.shape)
    return inner_product(ctx, x, weights, matrix.shape[0], axis=axis, role=role, shape=shape)


def inner_product(ctx, x: Blob, weights: list[Weight], num_output: int, *, axis: int | None = None,
                  role: str | None = None, shape: tuple[int, ...] | None = None) -> Blob:
    """y = x · Wᵀ (+ b) over x's axes from ``axis`` (default: the last), W (num_output, their element count).

    Output shape x.shape[:axis] + (num_output,), or ``shape`` (same element count, e.g. the two axes a
    Kronecker matrix fills); a second weight is the bias. One InnerProduct on axis 1: for any other
    ``axis`` (or rank) on the 2-D view (rows, count) of x — Reshape (−1, count), then a Flatten, which keeps
    MNN 3.6.1's converter from merging that Reshape into the one it puts before an InnerProduct (it then
    kept the old first axis: empty outputs, measured) — and the result viewed back. Caffe's InnerProduct
    takes any ``axis``, but MNN returns empty outputs for axis ≠ 1. Not a 1×1 Convolution on a
    (rows, count, 1, 1) view: OpenCV runs that as one GEMV per row, re-reading W each time (a (197, 192)
    → 768 Linear: 9.0 ms, against 1.2 ms as one InnerProduct; MNN 0.6 ms either way; issue 21). Where the
    target refuses views across the batch, a 1×1 Convolution on the block brought onto the channels.
    """
    axis = len(x.shape) - 1 if axis is None else axis
    out_shape = tuple(shape) if shape is not None else x.shape[:axis] + (int(num_output),)
    params = {"inner_product_param": {"num_output": int(num_output), "bias_term": len(weights) > 1}}
    if axis == 1 and len(out_shape) == 2:
        return ctx.layer("InnerProduct", [x], params, role=role, shape=out_shape, weights=weights)
    tag = role or "inner_product"
    count = int(np.prod(x.shape[axis:]))
    rows = int(np.prod(x.shape[:axis]))
    kernel = replace(weights[0], array=weights[0].array.reshape(int(num_output), count, 1, 1))
    params = {"convolution_param": {"num_output": int(num_output), "bias_term": len(weights) > 1, "kernel_size": [1]}}

    def product(ctx, blob):
        return ctx.layer("Convolution", [blob], params, role=f"{tag}/product",
                         shape=blob.shape[:1] + (int(num_output),) + blob.shape[2:], weights=[kernel, *weights[1:]])

    def folded(ctx):
        viewed = ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [-1, count]}}}, role=f"{tag}/rows",
                           shape=(rows, count))
        viewed = ctx.layer("Flatten", [viewed], {"flatten_param": {"axis": 1}}, role=f"{tag}/flat",
                           shape=(rows, count))
        matrix = replace(weights[0], array=weights[0].array.reshape(int(num_output), count))
        ip = {"inner_product_param": {"num_output": int(num_output), "bias_term": len(weights) > 1}}
        flat = ctx.layer("InnerProduct", [viewed], ip, role=f"{tag}/product", shape=(rows, int(num_output)),
                         weights=[matrix, *weights[1:]])
        return reshape_any_batch(ctx, flat, out_shape[1:], role=role)
    return _batch_kept_too(ctx, folded, x, axis, len(x.shape), product, out_shape, role)
