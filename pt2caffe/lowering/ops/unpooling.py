"""MaxUnpool2d with the indices of a MaxPool2d (SegNet, ENet decoders), exactly, with stock layers, for any
pooling windows: non-overlapping (SegNet's k2 s2), overlapping and padded (pytorchcv's ENet: k3 s2 p1).

Caffe's MAX Pooling gives, as a second top, the argmax of each window as the flat index h·W + w in its input
plane (pooling_layer.cpp: ``mask[pool_index] = index``, first maximum on ties, as PyTorch's CPU kernel): the
same numbers as PyTorch's indices. PyTorch's CPU max_unpool writes out[idx[w]] = v[w] window after window
(ATen/native/cpu/MaxUnpoolKernel.cpp): where overlapping windows picked one position, the last window's
value stays — with one thread; with several, the windows are split between threads and which one stays is
a race (measured: 3 windows on one index, values 1, 2, 3 → 2 or 3 from run to run). The export computes the
sequential result:

1. keep[w] = 1 unless a later overlapping window (w + d, d over the later neighbours a window's reach
   allows) picked the same position: [m + 1 = shifted m + 1] by one Convolution of one-hot kernels (zero
   outside the map: no window there), ReLU(1 − |Δ|) summed over d, keep = ReLU(1 − Σ) (exact on integers);
2. E[t, w] = [m[w] = position of tap t of window w] = ReLU(1 − |m − P_t|) against constant positions
   (−2 off the plane: never picked);
3. out = Σ_t scatter(E[t]·keep·v): one Deconvolution with the pooling's stride and padding whose kernel is
   one-hot at tap t for input channel t; each output position gets at most one nonzero term (exact), the
   rows/columns past the last window (an ``output_size`` larger than that) get zero taps.

The output width must be the pooled input's: PyTorch reads the flat indices in rows of the output width.
"""
from __future__ import annotations

import math

import numpy as np

from ..compose import (ELTWISE_PROD, ELTWISE_SUM, absolute, add_constant, eltwise, keep_range, pair, power, relu,
                       reshape_any_batch)
from ..registry import handles

OFF_PLANE = -2.0  # the position of a tap outside the input plane: no index is ever negative


def _integer_equal(ctx, difference, role: str):
    """[difference = 0] for integer values: ReLU(1 − |difference|)."""
    distance = absolute(ctx, difference, role=f"{role}/distance")
    return relu(ctx, power(ctx, distance, scale=-1.0, shift=1.0, role=f"{role}/one_minus"), role=role)


def _convolution(ctx, x, weights: np.ndarray, role: str, *, transposed=False, stride=(1, 1), pad=(0, 0), shape):
    params = {"num_output": int(weights.shape[1] if transposed else weights.shape[0]), "bias_term": False,
              "kernel_h": int(weights.shape[2]), "kernel_w": int(weights.shape[3]), "stride_h": int(stride[0]),
              "stride_w": int(stride[1]), "pad_h": int(pad[0]), "pad_w": int(pad[1])}
    return ctx.layer("Deconvolution" if transposed else "Convolution", [x], {"convolution_param": params},
                     role=role, shape=shape, weights=[ctx.constant(weights, role)])


def _copies(ctx, x, count: int, role: str):
    """(M, count, H, W): the one channel of x written ``count`` times (a 1×1 Convolution of ones)."""
    return _convolution(ctx, x, np.ones((count, 1, 1, 1)), role, shape=(x.shape[0], count) + x.shape[2:])


def later_neighbours(kernel, stride) -> list[tuple[int, int]]:
    """Offsets (di, dj) of the later windows (row-major) that can overlap a window."""
    reach = [math.ceil(k / s) for k, s in zip(kernel, stride)]
    return [(di, dj) for di in range(reach[0]) for dj in range(1 - reach[1], reach[1]) if di > 0 or dj > 0]


def tap_positions(pooled, kernel, stride, pad, plane) -> np.ndarray:
    """(taps, Hp, Wp): the flat input position y·W + x of each tap of each window, OFF_PLANE outside it."""
    taps = []
    for dy in range(kernel[0]):
        for dx in range(kernel[1]):
            y = np.arange(pooled[0])[:, None] * stride[0] - pad[0] + dy
            x = np.arange(pooled[1])[None, :] * stride[1] - pad[1] + dx
            inside = (y >= 0) & (y < plane[0]) & (x >= 0) & (x < plane[1])
            taps.append(np.where(inside, y * plane[1] + x, OFF_PLANE))
    return np.stack(taps).astype(np.float64)


def _kept(ctx, values, mask, kernel, stride):
    """values × keep: zero where a later overlapping window picked the same position (step 1)."""
    offsets = later_neighbours(kernel, stride)
    if not offsets:
        return values
    reach = (max(abs(di) for di, _ in offsets), max(abs(dj) for _, dj in offsets))
    shifts = np.zeros((len(offsets), 1, 2 * reach[0] + 1, 2 * reach[1] + 1))
    for i, (di, dj) in enumerate(offsets):
        shifts[i, 0, reach[0] + di, reach[1] + dj] = 1.0
    numbered = power(ctx, mask, shift=1.0, role="later/numbered")  # 0 then means "no window there"
    later = _convolution(ctx, numbered, shifts, "later/picks", pad=reach,
                         shape=(mask.shape[0], len(offsets)) + mask.shape[2:])
    own = _copies(ctx, numbered, len(offsets), "later/own")
    same = _integer_equal(ctx, eltwise(ctx, [own, later], ELTWISE_SUM, coeffs=[1, -1], role="later/offset"),
                          "later/same")
    count = _convolution(ctx, same, np.ones((1, len(offsets), 1, 1)), "later/count", shape=mask.shape)
    keep = relu(ctx, power(ctx, count, scale=-1.0, shift=1.0, role="keep/one_minus"), role="keep")
    return eltwise(ctx, [values, keep], ELTWISE_PROD, role="values/kept")


def unpool(ctx, values, mask, kernel, stride, pad, plane, out):
    """(N, C) + ``out`` from pooled ``values`` and their ``mask`` (N, C, Hp, Wp); ``plane``: the pooled input's
    (H, W)."""
    n, c, hp, wp = values.shape
    planes = (n * c, 1, hp, wp)
    mask = reshape_any_batch(ctx, mask, planes[1:], role="mask/planes")
    values = _kept(ctx, reshape_any_batch(ctx, values, planes[1:], role="values/planes"), mask, kernel, stride)
    positions = tap_positions((hp, wp), kernel, stride, pad, plane)
    taps = positions.shape[0]
    offset = add_constant(ctx, _copies(ctx, mask, taps, "taps/mask"), ctx.constant(-positions, "tap positions"), 1, 3,
                          role="taps/offset")
    placed = eltwise(ctx, [_integer_equal(ctx, offset, "taps/picked"), _copies(ctx, values, taps, "taps/values")],
                     ELTWISE_PROD, role="taps/placed")
    reached = [s * (p_ - 1) + k - 2 * q for s, p_, k, q in zip(stride, (hp, wp), kernel, pad)]
    grow = [max(0, o - r) for o, r in zip(out, reached)]
    scatter = np.zeros((taps, 1, kernel[0] + grow[0], kernel[1] + grow[1]))
    for t in range(taps):
        scatter[(t, 0) + divmod(t, kernel[1])] = 1.0
    full = tuple(r + g for r, g in zip(reached, grow))
    y = _convolution(ctx, placed, scatter, "scatter", transposed=True, stride=stride, pad=pad,
                     shape=(placed.shape[0], 1) + full)
    for axis, (have, want) in zip((2, 3), zip(full, out)):
        if have > want:
            y = keep_range(ctx, y, axis, 0, want, role=f"crop{axis}")
    return reshape_any_batch(ctx, y, (c,) + tuple(out))


def _pooling(ctx, indices):
    """(kernel, stride, padding, input plane) of the MaxPool2d whose indices these are."""
    pool = indices.producer
    if pool is None or pool.kind != "max_pool2d" or indices is not pool.outputs[-1]:
        raise ctx.fail("the indices do not come from a MaxPool2d in the model; only those can be unpooled")
    if pair(pool.arg(4, "dilation", 1)) != (1, 1):
        raise ctx.fail("the MaxPool2d has dilation, which Caffe's Pooling lacks")
    kernel = pair(pool.arg(1, "kernel_size"))
    return kernel, pair(pool.arg(2, "stride") or kernel), pair(pool.arg(3, "padding", 0)), \
        tuple(pool.arg(0, "input").shape[2:])


def overlapping_unpooling(graph) -> bool:
    """Whether a MaxUnpool2d of ``graph`` reads indices of overlapping windows: there PyTorch's own result
    depends on its thread count (module docstring), so a reference run must use one thread."""
    for op in graph.ops:
        indices = op.arg(1, "indices") if op.kind == "max_unpool2d" else None
        pool = getattr(indices, "producer", None)
        if pool is not None and pool.kind == "max_pool2d":
            kernel = pair(pool.arg(1, "kernel_size"))
            if any(k > s for k, s in zip(kernel, pair(pool.arg(2, "stride") or kernel))):
                return True
    return False


@handles("max_unpool2d", lowering="indices of any MaxPool2d: MAX Pooling's mask top; per window tap, ReLU(1 − |mask − "
                                  "position|) × value, one Deconvolution scattering every tap; where overlapping "
                                  "windows picked one position the last one's value (PyTorch's sequential result)",
         portable="pycaffe, OpenCV; MNN: empty output (its Caffe converter drops Pooling's mask top)")
def max_unpool2d(op, ctx):
    x, indices = op.arg(0, "input"), op.arg(1, "indices")
    kernel, stride, pad, plane = _pooling(ctx, indices)
    out = tuple(ctx.out_shape[2:])
    if out[1] != plane[1]:
        raise ctx.fail(f"the output width {out[1]} differs from the pooled input's width {plane[1]}: PyTorch would "
                       "read the flat indices in rows of another length")
    return unpool(ctx, ctx.blob(x), ctx.blob(indices), kernel, stride, pad, plane, out)


@handles("max_unpool1d", "max_unpool3d", lowering="refused: only MaxUnpool2d is lowered", exact=False,
         portable="— (refused)")
def max_unpool_other(op, ctx):
    raise ctx.fail("MaxUnpool1d/3d are not supported; only MaxUnpool2d with the indices of a MaxPool2d is exported")
