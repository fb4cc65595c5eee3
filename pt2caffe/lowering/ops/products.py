"""Batched products of two traced tensors, from layers every Caffe runtime has.

Stock Caffe has no batched matrix product and no layer that multiplies two blobs of different
shapes portably (Tile fails in OpenCV, a two-bottom Scale crashes MNN's converter). The
product C = A @ B, with A (T, M, K) and B (T, K, N), is computed as the sum over K of an
elementwise product of two copies broadcast to T × M × N × K:

1. broadcast: each operand is reshaped so that the axis it lacks is a height of 1, and a
   Deconvolution with one input and one output channel, a kernel of ones of that length,
   stride 1, repeats it (each output is one input times 1 plus zeros: exact);
2. Eltwise PROD of the two broadcast blobs;
3. the sum over K, with one multiplier ``scale`` folded in: a 1×1 Convolution whose (1, K, 1, 1)
   weight is ``scale``, K on the channel axis: layout (T, K, M, N), or (T·M·N, K, 1, 1) when K
   is last. (Not an InnerProduct: MNN 3.6.1 gives an empty output for an InnerProduct whose
   bottom is a Reshape that changes the leading axis.)

The layout is chosen from the order the operands come in, so that at most one of them is
permuted: K last in both ("A @ Bᵀ", e.g. queries by keys) needs no Permute; K first in both
needs none either.

Cost per product: 2 Deconvolutions, 1 Eltwise, 1 Convolution, ≤ 1 Permute
and a few Reshapes (Caffe's Reshape shares memory); three blobs of T·M·N·K floats (the two
copies and their product; Caffe keeps every blob of the net) and T·M·N for the result; the
arithmetic is T·M·N·K multiplications and additions, as in the product itself. One rounding
per multiply-add as in PyTorch's kernels; the summation order may differ (≈ K·2⁻²⁴ relative).
"""
from __future__ import annotations

import numpy as np

from ...net.builder import Blob
from ..compose import permute


def _repeat(ctx, x: Blob, height: int, width: int, out_shape: tuple[int, ...], role: str) -> Blob:
    """Repeat a (n, 1, h, w) blob with h = 1 or w = 1 to (n, 1, height, width) by a Deconvolution of ones."""
    kernel_h, kernel_w = height // x.shape[2], width // x.shape[3]
    params = {"num_output": 1, "bias_term": False, "kernel_h": kernel_h, "kernel_w": kernel_w}
    ones = ctx.constant(np.ones((1, 1, kernel_h, kernel_w)), "ones: repeats the operand (broadcast)")
    return ctx.layer("Deconvolution", [x], {"convolution_param": params}, weights=[ones],
                     shape=out_shape, role=role)


def _as_planes(ctx, x: Blob, shape: tuple[int, ...], role: str) -> Blob:
    """Reshape to (−1, 1, h, w): any leading count, one channel."""
    count = int(np.prod(x.shape)) // int(np.prod(shape))
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [-1, 1, *shape]}}},
                     role=role, shape=(count, 1, *shape))


def batched_product(ctx, a: Blob, b: Blob, *, a_k_last: bool = True, b_k_last: bool = False,
                    scale: float = 1.0, role: str | None = None) -> Blob:
    """``scale`` · A @ B for every t of the leading axis; returns a (T, M, N) blob.

    ``a`` is A as (T, M, K) when ``a_k_last``, else Aᵀ as (T, K, M); ``b`` is Bᵀ as (T, N, K) when
    ``b_k_last``, else B as (T, K, N). ``role`` names the final Reshape (None: the op's own
    blob). Errors: none beyond the blobs' shapes disagreeing (an internal error).
    """
    tag = role or "product"
    count = a.shape[0]
    m, k = (a.shape[1], a.shape[2]) if a_k_last else (a.shape[2], a.shape[1])
    n = b.shape[1] if b_k_last else b.shape[2]
    if a_k_last != b_k_last:  # move K of B to where A has it (one Permute)
        b = permute(ctx, b, [0, 2, 1], role=f"{tag}/transpose_b")
    if a_k_last:  # layout (T, M, N, K): A repeated over N, B over M, K summed by a 1×1 Convolution
        wide_a = _repeat(ctx, _as_planes(ctx, a, (1, k), f"{tag}/a_rows"), n, k, (count * m, 1, n, k),
                         f"{tag}/a_repeated")
        wide_b = _repeat(ctx, _as_planes(ctx, b, (1, n * k), f"{tag}/b_rows"), m, n * k,
                         (count, 1, m, n * k), f"{tag}/b_repeated")
        wide_a = reshape_leading(ctx, wide_a, (count, 1, m, n * k), role=f"{tag}/a_aligned")
        terms = ctx.layer("Eltwise", [wide_a, wide_b], {"eltwise_param": {"operation": "PROD"}},
                          role=f"{tag}/terms", shape=wide_b.shape)
        rows = _as_rows(ctx, terms, k, f"{tag}/terms_by_k")
        summed = _sum_channels(ctx, rows, k, scale, f"{tag}/sum")
    else:  # layout (T, K, M, N): A repeated over N, B over M, K summed by a 1×1 Convolution
        wide_a = _repeat(ctx, _as_planes(ctx, a, (m, 1), f"{tag}/a_columns"), m, n, (count * k, 1, m, n),
                         f"{tag}/a_repeated")
        wide_b = _repeat(ctx, _as_planes(ctx, b, (1, n), f"{tag}/b_rows"), m, n, (count * k, 1, m, n),
                         f"{tag}/b_repeated")
        terms = ctx.layer("Eltwise", [wide_a, wide_b], {"eltwise_param": {"operation": "PROD"}},
                          role=f"{tag}/terms", shape=wide_a.shape)
        terms = reshape_leading(ctx, terms, (count, k, m, n), role=f"{tag}/terms_by_k")
        summed = _sum_channels(ctx, terms, k, scale, f"{tag}/sum")
    return reshape_leading(ctx, summed, (count, m, n), role=role)


def _sum_channels(ctx, x: Blob, k: int, scale: float, role: str) -> Blob:
    """scale · Σ over the K channels of a 4-D blob: a 1×1 Convolution with one output and weights ``scale``."""
    weight = ctx.constant(np.full((1, k, 1, 1), scale), f"{scale:g}: sums the products over K")
    params = {"num_output": 1, "bias_term": False, "kernel_size": [1]}
    return ctx.layer("Convolution", [x], {"convolution_param": params}, weights=[weight], role=role,
                     shape=(x.shape[0], 1) + x.shape[2:])


def _as_rows(ctx, x: Blob, width: int, role: str) -> Blob:
    """Reshape to (−1, width, 1, 1), rows of ``width`` channels."""
    count = int(np.prod(x.shape)) // width
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [-1, width, 1, 1]}}}, role=role,
                     shape=(count, width, 1, 1))


def reshape_leading(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Reshape to ``shape`` with the leading axis inferred (−1), so that any batch passes; no layer when
    the shape is already right."""
    if tuple(shape) == tuple(x.shape):
        return x
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [-1, *shape[1:]]}}}, role=role,
                     shape=shape)
