"""Small exact compositions that several op families share.

Every function emits layers through an :class:`~pt2caffe.lowering.OpContext`
and returns the resulting blob. ``role`` names helper layers
(``<op name>/<role>``); ``role=None`` marks the op's own, final layer.
"""
from __future__ import annotations

from numbers import Number

import numpy as np

from ..builder import Blob
from ..tracer import Const

ELTWISE_PROD, ELTWISE_SUM, ELTWISE_MAX = "PROD", "SUM", "MAX"


def normalize_dim(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def scalar_of(ref) -> float | None:
    """The number a Python scalar (bool included) or a one-element constant holds; None otherwise."""
    if isinstance(ref, Number):
        return float(ref)
    if isinstance(ref, Const) and ref.tensor.numel() == 1:
        return float(ref.tensor.reshape(()).item())
    return None


def power(ctx, x: Blob, *, power: float = 1.0, scale: float = 1.0, shift: float = 0.0,
          role: str | None = None) -> Blob:
    """y = (shift + scale·x)^power."""
    params = {key: float(val) for key, val, default in
              (("power", power, 1.0), ("scale", scale, 1.0), ("shift", shift, 0.0)) if val != default}
    return ctx.layer("Power", [x], {"power_param": params}, role=role, shape=x.shape)


def relu(ctx, x: Blob, *, role: str | None = None, negative_slope: float = 0.0) -> Blob:
    params = {"relu_param": {"negative_slope": float(negative_slope)}} if negative_slope else {}
    return ctx.layer("ReLU", [x], params, role=role, shape=x.shape)


def eltwise(ctx, bottoms: list[Blob], operation: str, *, coeffs: list[float] | None = None,
            role: str | None = None) -> Blob:
    params = {"operation": operation}
    if coeffs:
        params["coeff"] = [float(c) for c in coeffs]
    return ctx.layer("Eltwise", bottoms, {"eltwise_param": params}, role=role, shape=bottoms[0].shape)


def clamp(ctx, x: Blob, low: float | None, high: float | None, *, role: str | None = None) -> Blob:
    """clamp(x, low, high) from ReLUs: low + ReLU(x − low) − ReLU(x − high); ``high`` everywhere when
    low > high, as in torch."""
    tag = role or "clamp"
    if low is None and high is None:
        return x
    if low is not None and high is not None and low > high:
        return power(ctx, x, scale=0.0, shift=high, role=role)
    if low is None:  # high − ReLU(high − x)
        flipped = power(ctx, x, scale=-1.0, shift=high, role=f"{tag}/flip")
        return power(ctx, relu(ctx, flipped, role=f"{tag}/relu"), scale=-1.0, shift=high, role=role)
    shifted = x if low == 0 else power(ctx, x, shift=-low, role=f"{tag}/minus_low")
    result = relu(ctx, shifted, role=role if (high is None and low == 0) else f"{tag}/relu_low")
    if high is not None:
        over = relu(ctx, power(ctx, x, shift=-high, role=f"{tag}/minus_high"), role=f"{tag}/relu_high")
        result = eltwise(ctx, [result, over], ELTWISE_SUM, coeffs=[1, -1], role=role if low == 0 else f"{tag}/band")
    if low != 0:
        result = power(ctx, result, shift=low, role=role)
    return result


def add_constant(ctx, x: Blob, bias, axis: int, num_axes: int, *, role: str | None = None) -> Blob:
    """x + b for a constant weight ``b`` spanning axes [axis, axis + num_axes).

    A Scale with a unit scale and ``bias_term`` rather than a Bias layer: exact (×1), and
    OpenCV's Caffe importer, the second opinion, has no Bias layer.
    """
    ones = ctx.constant(np.ones(bias.array.shape), "unit scale")
    params = {"scale_param": {"axis": axis, "num_axes": num_axes, "bias_term": True}}
    return ctx.layer("Scale", [x], params, role=role, shape=x.shape, weights=[ones, bias])


def reshape(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Reshape to a fixed shape; the batch dimension is copied (``dim: 0``) when unchanged."""
    shape = tuple(int(d) for d in shape)
    if shape == x.shape:
        return x
    dims = list(shape)
    if shape and x.shape and shape[0] == x.shape[0]:
        dims[0] = 0
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": dims}}}, role=role, shape=shape)


def permute(ctx, x: Blob, order: list[int], *, role: str | None = None) -> Blob:
    order = [int(d) for d in order]
    if order == sorted(order):
        return x
    shape = tuple(x.shape[d] for d in order)
    return ctx.layer("Permute", [x], {"permute_param": {"order": order}}, role=role, shape=shape)


def slice_parts(ctx, x: Blob, axis: int, sizes: list[int], *, role: str | None = None) -> list[Blob]:
    """Cut ``x`` along ``axis`` into parts of ``sizes`` (Slice); parts nobody uses are silenced later."""
    if len(sizes) == 1:
        return [x]
    points, total = [], 0
    for size in sizes[:-1]:
        total += size
        points.append(total)
    shapes = [x.shape[:axis] + (size,) + x.shape[axis + 1:] for size in sizes]
    return ctx.layer("Slice", [x], {"slice_param": {"axis": axis, "slice_point": points}},
                     role=role, top_shapes=shapes)


def keep_range(ctx, x: Blob, axis: int, start: int, stop: int, *, role: str | None = None) -> Blob:
    """x[..., start:stop, ...] on ``axis`` via Slice."""
    length = x.shape[axis]
    sizes = [size for size in (start, stop - start, length - stop) if size > 0]
    if sizes == [length]:
        return x
    parts = slice_parts(ctx, x, axis, sizes, role=role)
    return parts[1] if start > 0 else parts[0]


def scale_or_bias(ctx, layer_type: str, x: Blob, operand: Blob, axis: int, *, role: str | None = None) -> Blob:
    """Multiply (Scale) or add (Bias) ``operand``, a second bottom matching ``x``'s axes from ``axis`` on,
    broadcast over the remaining axes."""
    key = "scale_param" if layer_type == "Scale" else "bias_param"
    return ctx.layer(layer_type, [x, operand], {key: {"axis": axis}}, role=role, shape=x.shape)


def tile_to(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Repeat the size-1 axes of ``x`` (same rank as ``shape``) up to ``shape`` with Tile layers."""
    axes = [axis for axis, (have, want) in enumerate(zip(x.shape, shape)) if have != want]
    for i, axis in enumerate(axes):
        target = x.shape[:axis] + (shape[axis],) + x.shape[axis + 1:]
        is_last = i == len(axes) - 1
        x = ctx.layer("Tile", [x], {"tile_param": {"axis": axis, "tiles": int(shape[axis])}},
                      role=role if is_last else f"{role or 'tile'}/axis{axis}", shape=target)
    return x


# Largest two-axis (Kronecker) matrix applied by one InnerProduct instead of a separable pass.
KRONECKER_LIMIT = 1 << 16


def apply_axis_matrices(ctx, x: Blob, matrices: dict[int, np.ndarray], what: str, *, fill: float = 0.0,
                        role: str | None = None) -> Blob:
    """Mix ``x`` along axes: y[.., i, ..] = Σ_j M[i, j]·x[.., j, ..] for each ``axis: M`` (M is out × in).

    The last axis: an InnerProduct with ``axis: last`` (it contracts only that axis; weights (out,
    in)). Any other axis: Reshape to (−1, in, rest, 1) so that it becomes the channels, a 1×1
    Convolution with weights (out, in, 1, 1), Reshape back; Caffe's Reshape shares memory, so no
    element is moved (a Permute is slow in Caffe). When only the last two axes change and
    kron(M_rows, M_cols) is small, one InnerProduct on both plus a Reshape does it all. Otherwise
    the axes that shrink go first. An all-zero row of M yields ``fill`` (a bias of the layer, 0
    elsewhere): what a padding constant needs, on the union of the borders. 0/1 matrices
    (selection) are exact in float; others cost one rounding per product, as PyTorch's kernels do.
    """
    matrices = {axis: m for axis, m in matrices.items() if not _is_identity(m)}
    last = len(x.shape) - 1
    if not matrices:
        return x
    if last - 1 >= 1 and last - 1 in matrices and set(matrices) <= {last - 1, last}:
        rows, cols = matrices[last - 1], matrices.get(last, np.eye(x.shape[last]))
        if rows.size * cols.size <= KRONECKER_LIMIT:
            flat = _inner_product(ctx, x, np.kron(rows, cols), last - 1, f"{what} (both axes)", fill,
                                  role=f"{role or 'axes'}/matrix")
            return reshape(ctx, flat, x.shape[:-2] + (rows.shape[0], cols.shape[0]), role=role)
    order = sorted(matrices, key=lambda axis: matrices[axis].shape[0] / matrices[axis].shape[1])
    for i, axis in enumerate(order):
        is_final = i == len(order) - 1
        x = _apply_on_axis(ctx, x, axis, matrices[axis], what, fill,
                           role if is_final else f"{role or 'axes'}/axis{axis}")
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
    as_channels = x if len(x.shape) == 4 and axis == 1 else _reshape_any_batch(
        ctx, x, (x.shape[axis], rest, 1), role=f"{tag}/as_channels")
    bias_term, weights = _matrix_weights(ctx, matrix, what, fill, matrix.shape + (1, 1))
    params = {"convolution_param": {"num_output": matrix.shape[0], "kernel_size": [1], "bias_term": bias_term}}
    if as_channels is x:
        return ctx.layer("Convolution", [x], params, role=role, shape=out_shape, weights=weights)
    mixed = ctx.layer("Convolution", [as_channels], params, role=f"{tag}/matrix",
                      shape=as_channels.shape[:1] + (matrix.shape[0], rest, 1), weights=weights)
    return _reshape_any_batch(ctx, mixed, out_shape[1:], role=role)


def _reshape_any_batch(ctx, x: Blob, tail: tuple[int, ...], *, role: str | None) -> Blob:
    """Reshape to (−1, *tail): the first axis absorbs (or gives back) the batch, whatever it is."""
    count = int(np.prod(x.shape)) // int(np.prod(tail))
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [-1, *tail]}}}, role=role,
                     shape=(count, *tail))


def _inner_product(ctx, x: Blob, matrix: np.ndarray, axis: int, what: str, fill: float, *,
                   role: str | None) -> Blob:
    """InnerProduct contracting axes ``axis``… of ``x`` with ``matrix`` (out × their element count)."""
    bias_term, weights = _matrix_weights(ctx, matrix, what, fill, matrix.shape)
    params = {"num_output": matrix.shape[0], "bias_term": bias_term, "axis": axis}
    return ctx.layer("InnerProduct", [x], {"inner_product_param": params}, role=role,
                     shape=x.shape[:axis] + (matrix.shape[0],), weights=weights)
