"""Small exact compositions that several op families share.

Every function emits layers through an :class:`~pt2caffe.lowering.OpContext`
and returns the resulting blob. ``role`` names helper layers
(``<op name>/<role>``); ``role=None`` marks the op's own, final layer.
"""
from __future__ import annotations

import math
from dataclasses import replace
from numbers import Number

import numpy as np
import torch

from ..builder import Blob, Weight
from ..tracer import Const

ELTWISE_PROD, ELTWISE_SUM, ELTWISE_MAX = "PROD", "SUM", "MAX"


# Log's default base (-1, meaning e) is turned into the identity by MNN 3.6.1's Caffe converter
# (its LogTransform returns scale·x + shift and forgets the log when base == -1). Writing base e
# gives ln in every runtime; Caffe multiplies by 1/ln(float32(e)) = 1 + 6e-8 (log_layer.cpp).
NATURAL_LOG = {"log_param": {"base": math.e}}


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
    """Eltwise over same-shape ``bottoms``. A SUM coefficient other than ±1 scales its bottom by a
    Power first (MNN 3.6.1's forward fails on such coefficients): the same sum up to one float
    rounding of c·x (Caffe's Eltwise adds c·x with caffe_axpy)."""
    params = {"operation": operation}
    if coeffs:
        scaled = [b if abs(c) == 1 else power(ctx, b, scale=abs(float(c)), role=f"{role or 'eltwise'}/coeff{i}")
                  for i, (b, c) in enumerate(zip(bottoms, coeffs))]
        bottoms, coeffs = scaled, [1.0 if c >= 0 else -1.0 for c in coeffs]
        if any(c != 1.0 for c in coeffs):
            params["coeff"] = coeffs
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
    """x + b for a constant weight ``b`` spanning axes [axis, axis + num_axes): ``scale_axes`` with no scale."""
    return scale_axes(ctx, x, None, bias, axis, axis + num_axes, role=role)


def scale_axes(ctx, x: Blob, scale: Weight | None, bias: Weight | None, start: int, stop: int, *,
               role: str | None = None) -> Blob:
    """x · scale + bias, constant weights spanning x's axes [start, stop) (either may be None).

    One Scale layer on axis 1 (``bias_term`` for the bias; a unit scale when only adding, which is
    exact, and OpenCV has no Bias layer). MNN computes Scale right only on the channels of a 4-D
    blob (measured: axis 2 with num_axes 2 gives 0.69 relative error), so any other block is first
    viewed as (−1, block, rest, 1), which Reshape does without moving data, and viewed back after.
    """
    block = tuple(x.shape[start:stop])
    count = int(np.prod(block))
    if scale is None:
        scale = ctx.constant(np.ones(count), "unit scale")
    weights = [_flat(scale, count)] + ([_flat(bias, count)] if bias is not None else [])
    params = {"scale_param": {"axis": 1, "num_axes": 1, "bias_term": bias is not None}}
    if len(x.shape) == 4 and (start, stop) == (1, 2):
        return ctx.layer("Scale", [x], params, role=role, shape=x.shape, weights=weights)
    tag = role or "scale"
    viewed = reshape_any_batch(ctx, x, (count, int(np.prod(x.shape[stop:])), 1), role=f"{tag}/as_channels")
    scaled = ctx.layer("Scale", [viewed], params, role=f"{tag}/scale", shape=viewed.shape, weights=weights)
    return reshape_any_batch(ctx, scaled, x.shape[1:], role=role) if x.shape else reshape(ctx, scaled, (), role=role)


def _flat(weight: Weight, count: int) -> Weight:
    """``weight`` as the 1-D blob (count,) a Scale on one axis needs (same values, same order)."""
    return replace(weight, array=weight.array.reshape(count))


def reshape(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Reshape to a fixed shape; the batch dimension is copied (``dim: 0``) when unchanged.

    A reshape to 2-D that changes the first axis ((T, N, F) → (T·N, F)) is followed by a Flatten
    (axis 1: no change): MNN 3.6.1's converter merges such a Reshape with the reshape it puts in
    front of an InnerProduct and keeps the old first axis (shape error or empty output, measured);
    the Flatten keeps them apart. pycaffe and OpenCV need neither.
    """
    shape = tuple(int(d) for d in shape)
    if shape == x.shape:
        return x
    dims = list(shape)
    if shape and x.shape and shape[0] == x.shape[0]:
        dims[0] = 0
    if len(shape) != 2 or dims[0] == 0:
        return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": dims}}}, role=role, shape=shape)
    rows = ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": dims}}}, role=f"{role or 'reshape'}/rows",
                     shape=shape)
    return ctx.layer("Flatten", [rows], {"flatten_param": {"axis": 1}}, role=role, shape=shape)


def permute(ctx, x: Blob, order: list[int], *, role: str | None = None) -> Blob:
    order = [int(d) for d in order]
    if order == sorted(order):
        return x
    shape = tuple(x.shape[d] for d in order)
    return ctx.layer("Permute", [x], {"permute_param": {"order": order}}, role=role, shape=shape)


def slice_parts(ctx, x: Blob, axis: int, sizes: list[int], *, role: str | None = None) -> list[Blob]:
    """Cut ``x`` along ``axis`` into parts of ``sizes`` (Slice); parts nobody uses are silenced later.

    The same cut of the same blob is emitted once: a later op that cuts it alike (``y[..., :2]`` read,
    then ``y[..., :2] = …`` written) reuses its tops, so that every part finds a reader.
    """
    if len(sizes) == 1:
        return [x]
    points, total = [], 0
    for size in sizes[:-1]:
        total += size
        points.append(total)
    key = ("slice", x.name, axis, tuple(points))
    if key not in ctx.builder.memo:
        shapes = [x.shape[:axis] + (size,) + x.shape[axis + 1:] for size in sizes]
        ctx.builder.memo[key] = ctx.layer("Slice", [x], {"slice_param": {"axis": axis, "slice_point": points}},
                                          role=role, top_shapes=shapes)
    return list(ctx.builder.memo[key])


def keep_range(ctx, x: Blob, axis: int, start: int, stop: int, *, role: str | None = None) -> Blob:
    """x[..., start:stop, ...] on ``axis`` via Slice."""
    length = x.shape[axis]
    sizes = [size for size in (start, stop - start, length - stop) if size > 0]
    if sizes == [length]:
        return x
    parts = slice_parts(ctx, x, axis, sizes, role=role)
    return parts[1] if start > 0 else parts[0]


def window(kernel, stride=(1, 1), pad=(0, 0), *, repeated: bool) -> dict:
    """Convolution/Pooling window fields from (h, w) pairs: ``kernel_size``/``stride``/``pad`` where both axes
    agree (x2paddle reads only those), else ``kernel_h``/``kernel_w`` etc. ``repeated``: ConvolutionParameter
    spells them as lists, PoolingParameter as numbers (caffe.proto)."""
    params = {}
    for name, (h, w) in (("kernel", pair(kernel)), ("stride", pair(stride)), ("pad", pair(pad))):
        if h == w:
            key = "kernel_size" if name == "kernel" else name
            params[key] = [h] if repeated else h
        else:
            params[f"{name}_h"], params[f"{name}_w"] = h, w
    return params


def broadcast_to(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Repeat the size-1 axes of ``x`` (same rank as ``shape``) up to ``shape``: every value copied (×1), exact.

    Layers every runtime accepts (Tile fails in OpenCV, a two-bottom Scale crashes MNN's converter):
    on a 4-D blob whose H and/or W grow, one depthwise Deconvolution with stride 1 and a kernel of
    ones as large as the growth (out[h, w] = Σ x[i, j]·1 over the one input position in reach).
    Otherwise each run of adjacent growing axes [i, j) is the channel axis of a (−1, 1, rest, 1)
    view and a 1×1 Convolution of ones makes it prod(shape[i:j]) long (Reshapes move no data).
    """
    shape = tuple(int(d) for d in shape)
    grows = [have != want for have, want in zip(x.shape, shape)]
    if not any(grows):
        return x
    if len(shape) == 4 and not any(grows[:2]):
        kernel = tuple(shape[axis] if grows[axis] else 1 for axis in (2, 3))
        channels = shape[1]
        params = {"num_output": channels, "group": channels, "bias_term": False, **window(kernel, repeated=True)}
        ones = ctx.constant(np.ones((channels, 1) + kernel), "broadcast: each value copied to its block")
        return ctx.layer("Deconvolution", [x], {"convolution_param": params}, role=role, shape=shape, weights=[ones])
    runs = [axis for axis in range(len(shape)) if grows[axis] and (axis == 0 or not grows[axis - 1])]
    for n, start in enumerate(runs):
        stop = next((axis for axis in range(start, len(shape)) if not grows[axis]), len(shape))
        target = x.shape[:start] + shape[start:stop] + x.shape[stop:]
        x = copy_blocks(ctx, x, start, int(np.prod(shape[start:stop])), target,
                        role=role if n == len(runs) - 1 else f"{role or 'broadcast'}/axis{start}")
    return x


def copy_blocks(ctx, x: Blob, axis: int, count: int, target: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Each block x[i₀, …, i_axis−1, :, …, :] written ``count`` times in a row, viewed as ``target``.

    ``x`` is viewed as (outer, 1, block, 1) and a 1×1 Convolution with ``count`` outputs and weights
    1 copies it (exact). Broadcasting size-1 axes and ``repeat`` are both this.
    """
    tag = role or f"copies/axis{axis}"
    outer, block = int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))
    if len(x.shape) == 4 and axis == 1 and x.shape[1] == 1:  # (N, 1, H, W) is such a view already
        viewed = x
    else:
        viewed = reshape(ctx, x, (outer, 1, block, 1), role=f"{tag}/as_channels")
    params = {"num_output": int(count), "bias_term": False, "kernel_size": [1]}
    ones = ctx.constant(np.ones((count, 1, 1, 1)), "copies: each block written count times")
    target = tuple(int(d) for d in target)
    copied_shape = (outer, count) + viewed.shape[2:]
    copied = ctx.layer("Convolution", [viewed], {"convolution_param": params},
                       role=role if copied_shape == target else f"{tag}/copies", shape=copied_shape, weights=[ones])
    return reshape(ctx, copied, target, role=role)


# Largest two-axis (Kronecker) matrix applied in one pass (a 1×1 Convolution) instead of a separable pass.
KRONECKER_LIMIT = 1 << 16


def apply_axis_matrices(ctx, x: Blob, matrices: dict[int, np.ndarray], what: str, *, fill: float = 0.0,
                        role: str | None = None) -> Blob:
    """Mix ``x`` along axes: y[.., i, ..] = Σ_j M[i, j]·x[.., j, ..] for each ``axis: M`` (M is out × in).

    Each axis becomes the channels of a view: Reshape to (−1, in, rest, 1), a 1×1 Convolution with
    weights (out, in, 1, 1), Reshape back (for the last axis, rest = 1: see ``inner_product``).
    Caffe's Reshape shares memory, so no element is moved (a Permute is slow in Caffe), and no
    InnerProduct on a spatial axis is needed (MNN gives empty outputs for it). When only the last
    two axes change and kron(M_rows, M_cols) is small, one such Convolution on both does it all.
    Otherwise the axes that shrink go first. An all-zero row of M yields ``fill`` (a bias of the
    layer, 0 elsewhere): what a padding constant needs, on the union of the borders. 0/1 matrices
    (selection) are exact in float; others cost one rounding per product, as PyTorch's kernels do.
    """
    matrices = {axis: m for axis, m in matrices.items() if not _is_identity(m)}
    last = len(x.shape) - 1
    if not matrices:
        return x
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
    as_channels = x if len(x.shape) == 4 and axis == 1 else reshape_any_batch(
        ctx, x, (x.shape[axis], rest, 1), role=f"{tag}/as_channels")
    bias_term, weights = _matrix_weights(ctx, matrix, what, fill, matrix.shape + (1, 1))
    params = {"convolution_param": {"num_output": matrix.shape[0], "kernel_size": [1], "bias_term": bias_term}}
    if as_channels is x:
        return ctx.layer("Convolution", [x], params, role=role, shape=out_shape, weights=weights)
    mixed = ctx.layer("Convolution", [as_channels], params, role=f"{tag}/matrix",
                      shape=as_channels.shape[:1] + (matrix.shape[0], rest, 1), weights=weights)
    return reshape_any_batch(ctx, mixed, out_shape[1:], role=role)


def reshape_any_batch(ctx, x: Blob, tail: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Reshape to (−1, *tail): the first axis absorbs (or gives back) the batch, whatever it is."""
    count = int(np.prod(x.shape)) // int(np.prod(tail))
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [-1, *tail]}}}, role=role,
                     shape=(count, *tail))


def _inner_product(ctx, x: Blob, matrix: np.ndarray, axis: int, what: str, fill: float, *,
                   role: str | None, shape: tuple[int, ...] | None = None) -> Blob:
    """``inner_product`` contracting axes ``axis``… of ``x`` with ``matrix`` (out × their element count)."""
    _, weights = _matrix_weights(ctx, matrix, what, fill, matrix.shape)
    return inner_product(ctx, x, weights, matrix.shape[0], axis=axis, role=role, shape=shape)


def inner_product(ctx, x: Blob, weights: list[Weight], num_output: int, *, axis: int | None = None,
                  role: str | None = None, shape: tuple[int, ...] | None = None) -> Blob:
    """y = x · Wᵀ (+ b) over x's axes from ``axis`` (default: the last), W (num_output, their element count).

    Output shape x.shape[:axis] + (num_output,), or ``shape`` (same element count, e.g. the two axes a
    Kronecker matrix fills); a second weight is the bias. ``axis`` 1: one
    InnerProduct. Caffe's InnerProduct takes any ``axis``, but MNN returns empty outputs for
    axis ≠ 1 and also after a Reshape to (−1, count) (measured, MNN 3.6.1), so otherwise x is viewed
    as (−1, count, 1, 1) (Reshape moves no data), a 1×1 Convolution with weights (num_output, count,
    1, 1) contracts the channels, and the result is viewed back.
    """
    axis = len(x.shape) - 1 if axis is None else axis
    out_shape = tuple(shape) if shape is not None else x.shape[:axis] + (int(num_output),)
    if axis == 1 and len(out_shape) == 2:
        params = {"inner_product_param": {"num_output": int(num_output), "bias_term": len(weights) > 1}}
        return ctx.layer("InnerProduct", [x], params, role=role, shape=out_shape, weights=weights)
    tag = role or "inner_product"
    count = int(np.prod(x.shape[axis:]))
    kernel = replace(weights[0], array=weights[0].array.reshape(int(num_output), count, 1, 1))
    params = {"convolution_param": {"num_output": int(num_output), "bias_term": len(weights) > 1, "kernel_size": [1]}}
    rows = reshape_any_batch(ctx, x, (count, 1, 1), role=f"{tag}/rows")
    product = ctx.layer("Convolution", [rows], params, role=f"{tag}/product",
                        shape=rows.shape[:1] + (int(num_output), 1, 1), weights=[kernel, *weights[1:]])
    return reshape_any_batch(ctx, product, out_shape[1:], role=role)


def constant_blob(ctx, reference: Blob, values: Weight, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """A blob of shape (reference.shape[0], *shape) holding ``values`` (a weight blob of that many
    elements, row-major) in every row of the first axis.

    Stock layers only, so that a batch change keeps working and OpenCV/MNN (no Parameter layer)
    run it: once per reference blob, Reshape to (N, 1, −1, 1) and a global MAX Pooling give an
    (N, 1, 1, 1) seed; then an InnerProduct (axis 1) with zero weights and the values as its bias,
    and a Reshape. 0·seed + bias is the bias exactly, for any finite seed.
    """
    seed = batch_seed(ctx, reference)
    count = int(values.array.size)
    values = Weight(np.ascontiguousarray(values.array.reshape(-1)), values.source, values.transform)
    flat = ctx.layer("InnerProduct", [seed], {"inner_product_param": {"num_output": count, "axis": 1}},
                     role=f"{role or 'constant'}/values" if len(shape) != 1 else role, shape=(seed.shape[0], count),
                     weights=[ctx.constant(np.zeros((count, 1)), "zero weights (the constant is the bias)"), values])
    return reshape(ctx, flat, (seed.shape[0],) + tuple(shape), role=role)


def batch_seed(ctx, reference: Blob) -> Blob:
    """(N, 1, 1, 1): the maximum of each row of ``reference`` (shared by every constant made from it)."""
    key = ("batch_seed", reference.name)
    if key not in ctx.builder.memo:
        column = reference
        if len(reference.shape) != 4 or reference.shape[1] != 1 or reference.shape[3] != 1:
            count = int(np.prod(reference.shape[1:]))
            column = ctx.layer("Reshape", [reference], {"reshape_param": {"shape": {"dim": [0, 1, -1, 1]}}},
                               role="batch_seed/column", shape=(reference.shape[0], 1, count, 1))
        ctx.builder.memo[key] = ctx.layer("Pooling", [column], {"pooling_param": {"pool": "MAX", "global_pooling": True}},
                                          role="batch_seed", shape=(reference.shape[0], 1, 1, 1))
    return ctx.builder.memo[key]


def materialize(ctx, const: Const, references: list[Blob]) -> Blob:
    """A constant tensor used where a blob is needed (``torch.cat((x, torch.zeros(n, c, h, w)), 1)``).

    Its first axis must be the batch-like first axis of one of the op's traced operands and the
    constant the same along it (as ``zeros(n, …)`` or ``token.expand(n, …)`` are); then every row is
    built by :func:`constant_blob`. Raises Pt2CaffeError (through ``ctx.fail``) otherwise.
    """
    tensor = const.tensor.detach().to(torch.float64)
    if tensor.dim() == 0:
        raise ctx.fail(f"uses the scalar constant {const.describe()} as a tensor; a constant operand needs the "
                       "batch axis of a traced operand")
    if not torch.equal(tensor, tensor[:1].expand_as(tensor)):
        raise ctx.fail(f"uses constant {const.describe()} of shape {list(const.shape)}, which differs along its "
                       "first axis; only constants that repeat over the batch can be built from an input")
    for reference in references:
        if reference.shape and reference.shape[0] == tensor.shape[0]:
            key = ("constant", const, reference.name)  # the object itself: kept alive, never a reused id
            if key not in ctx.builder.memo:
                row = ctx.weight(const, tensor[0].reshape(-1), "one batch row, as an InnerProduct bias")
                ctx.builder.memo[key] = constant_blob(ctx, reference, row, tuple(tensor.shape[1:]), role="constant")
            return ctx.builder.memo[key]
    raise ctx.fail(f"uses constant {const.describe()} of shape {list(const.shape)}, but no traced operand has "
                   f"{tensor.shape[0]} rows on its first axis to build it from")
