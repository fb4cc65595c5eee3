"""Batched products of two traced tensors, C = scale · A @ B for A (T, M, K), B (T, K, N), from stock layers.

No stock layer multiplies two blobs except Eltwise PROD (equal shapes) and the two-bottom Scale (the second
bottom spans leading axes of the first), so an exact form materialises the T·M·N·K terms. Where it does
matters more than how (issue 21's measurements, OpenCV 4.14 / MNN 3.6.1, one thread): **K is the channel
axis** and the (m, n) pairs are the spatial plane, so that the sum over K is one 1×1 Convolution (K → 1,
weights ``scale``) over many pixels per image and the batch stays T. (Folding T·M·N into the batch, one pixel
per image, made OpenCV run 116,000 one-pixel convolutions per ViT product: 1 s instead of 6 ms.) The terms
are made **in chunks** whose blobs stay in the core's cache (``CHUNK_BYTES``), concatenated at the end.

Forms (each exact: every term is one product, each copy is x·1):

* ``columns`` (every runtime): A (T, K, M, 1) repeated over n columns once by a depthwise Deconvolution of
  ones (kernel 1×n); each chunk of n columns of B (T, K, n) repeated over the M rows by a 1×1 Convolution
  of ones on its (T·K, 1, n, 1) view (M outputs); Eltwise PROD; sum. 12 ms per ViT-tiny QKᵀ in OpenCV,
  10 ms in MNN.
* ``rows_scale`` (pycaffe, OpenCV: MNN's Caffe converter crashes on a two-bottom Scale): B repeated over c
  rows once (1×1 Convolution of ones); each chunk of c rows of A, (T, K, c), scales it (two-bottom Scale,
  axis 0): no copy of A at all. 5.7 ms in OpenCV.
* ``rows_deconv``: like ``rows_scale`` but B and A's chunk repeated by depthwise Deconvolutions (no layout
  copy in MNN) and Eltwise PROD; 5.6 ms in MNN, 33 ms in OpenCV (its Deconvolution is a per-group GEMM +
  col2im).

The form is chosen per target by the deploy cost model (``ctx.choose``; the two-bottom Scale is legal
only where MNN need not run the net).

Memory: one chunk's blobs at a time in OpenCV and MNN (they reuse buffers); pycaffe keeps every blob:
about 2–3 × T·M·N·K floats in all, as before. Rounding: one per product and per addition, as in torch; the
summation order differs (≈ K·2⁻²⁴ relative).
"""
from __future__ import annotations

import numpy as np

from ...net.builder import Blob
from ..choice import Form
from ..compose import concat, permute, slice_parts

CHUNK_BYTES = 1 << 20  # one chunk's terms: the L2 of the machine measured (1 MiB per core)
MIN_CHUNK = 8  # fewer lines per chunk cost more in per-layer overhead than the cache saves (measured: 2 vs 8)


def batched_product(ctx, a: Blob, b: Blob, *, a_k_last: bool = True, b_k_last: bool = False,
                    scale: float = 1.0, role: str | None = None) -> Blob:
    """``scale`` · A @ B for every t of the leading axis; returns a (T, M, N) blob.

    ``a`` is A as (T, M, K) when ``a_k_last``, else Aᵀ as (T, K, M); ``b`` is Bᵀ as (T, N, K) when
    ``b_k_last``, else B as (T, K, N). ``role`` names the final Reshape (None: the op's own blob).
    Errors: none beyond the blobs' shapes disagreeing (an internal error).
    """
    tag = role or "product"
    a_km = permute(ctx, a, [0, 2, 1], role=f"{tag}/a_by_k") if a_k_last else a
    b_kn = permute(ctx, b, [0, 2, 1], role=f"{tag}/b_by_k") if b_k_last else b
    summed = ctx.choose(Form("columns", lambda ctx: _columns(ctx, a_km, b_kn, scale, tag)),
                        Form("rows, two-bottom Scale", lambda ctx: _rows(ctx, a_km, b_kn, scale, tag, True)),
                        Form("rows, Deconvolution copies", lambda ctx: _rows(ctx, a_km, b_kn, scale, tag, False)))
    return reshape_leading(ctx, summed, (a_km.shape[0], a_km.shape[2], b_kn.shape[2]), role=role)


def _rows(ctx, a_km: Blob, b_kn: Blob, scale: float, tag: str, by_scale: bool) -> Blob:
    """The ``rows_scale`` (``by_scale``) or ``rows_deconv`` form: (T, 1, M, N)."""
    count, depth, rows = a_km.shape
    width = b_kn.shape[2]
    sizes = _chunks(rows, count * depth * width)
    repeat = _repeat_rows if by_scale else _repeat_between
    wide = {m: repeat(ctx, b_kn, m, f"{tag}/b_repeated{m}") for m in sorted(set(sizes), reverse=True)}
    parts = []
    for i, part in enumerate(slice_parts(ctx, a_km, 2, sizes, role=f"{tag}/a_rows")):
        repeated = wide[part.shape[2]]
        if by_scale:
            terms = ctx.layer("Scale", [repeated, part], {"scale_param": {"axis": 0}}, role=f"{tag}/{i}/terms",
                              shape=repeated.shape)
        else:
            terms = ctx.layer("Eltwise", [_repeat_last(ctx, part, width, f"{tag}/{i}/a_repeated"), repeated],
                              {"eltwise_param": {"operation": "PROD"}}, role=f"{tag}/{i}/terms", shape=repeated.shape)
        parts.append(_sum_channels(ctx, terms, scale, f"{tag}/{i}/sum"))
    return concat(ctx, parts, 2, f"{tag}/rows")


def _columns(ctx, a_km: Blob, b_kn: Blob, scale: float, tag: str) -> Blob:
    """The ``columns`` form: (T, 1, M, N)."""
    count, depth, rows = a_km.shape
    sizes = _chunks(b_kn.shape[2], count * depth * rows)
    wide = {n: _repeat_last(ctx, a_km, n, f"{tag}/a_repeated{n}") for n in sorted(set(sizes), reverse=True)}
    parts = []
    for i, part in enumerate(slice_parts(ctx, b_kn, 2, sizes, role=f"{tag}/b_columns")):
        terms = ctx.layer("Eltwise", [wide[part.shape[2]], _repeat_rows(ctx, part, rows, f"{tag}/{i}/b_repeated")],
                          {"eltwise_param": {"operation": "PROD"}}, role=f"{tag}/{i}/terms",
                          shape=(count, depth, rows, part.shape[2]))
        parts.append(_sum_channels(ctx, terms, scale, f"{tag}/{i}/sum"))
    return concat(ctx, parts, 3, f"{tag}/columns")


def _chunks(total: int, per_line: int) -> list[int]:
    """Sizes of the chunks of ``total`` lines of ``per_line`` floats each, about CHUNK_BYTES per chunk."""
    size = min(total, max(MIN_CHUNK, CHUNK_BYTES // (4 * per_line)))
    return [size] * (total // size) + ([total % size] if total % size else [])


def _repeat_last(ctx, x: Blob, times: int, role: str) -> Blob:
    """(T, K, M) → (T, K, M, times), each value repeated along a new last axis: a depthwise Deconvolution
    of ones, kernel 1 × ``times``, on the (T, K, M, 1) view (out[.., m, j] = x[.., m]·1)."""
    count, depth, rows = x.shape
    column = reshape_leading(ctx, x, (count, depth, rows, 1), role=f"{role}/as_column")
    ones = ctx.constant(np.ones((depth, 1, 1, times)), "ones: repeats each value (broadcast)")
    params = {"num_output": depth, "group": depth, "bias_term": False, "kernel_h": 1, "kernel_w": times}
    return ctx.layer("Deconvolution", [column], {"convolution_param": params}, weights=[ones], role=role,
                     shape=(count, depth, rows, times))


def _repeat_rows(ctx, x: Blob, times: int, role: str) -> Blob:
    """(T, K, n) → (T, K, times, n), the whole row repeated: a 1×1 Convolution of ones with ``times``
    outputs on the (T·K, 1, n, 1) view (its output (T·K, times, n, 1) is the same memory)."""
    count, depth, width = x.shape
    planes = reshape_leading(ctx, x, (count * depth, 1, width, 1), role=f"{role}/as_planes")
    ones = ctx.constant(np.ones((times, 1, 1, 1)), "ones: repeats each row (broadcast)")
    params = {"num_output": times, "bias_term": False, "kernel_size": [1]}
    copies = ctx.layer("Convolution", [planes], {"convolution_param": params}, weights=[ones],
                       role=f"{role}/copies", shape=(count * depth, times, width, 1))
    return reshape_leading(ctx, copies, (count, depth, times, width), role=role)


def _repeat_between(ctx, x: Blob, times: int, role: str) -> Blob:
    """(T, K, n) → (T, K, times, n) as ``_repeat_rows``, by a depthwise Deconvolution of ones (kernel times × 1)
    on the (T, K, 1, n) view: the channels stay K, so MNN copies nothing between layouts (its NC4HW4 blobs
    are copied whenever a Reshape changes the channel axis: 55 of 154 ms of a ViT-tiny, measured)."""
    count, depth, width = x.shape
    row = reshape_leading(ctx, x, (count, depth, 1, width), role=f"{role}/as_row")
    ones = ctx.constant(np.ones((depth, 1, times, 1)), "ones: repeats each row (broadcast)")
    params = {"num_output": depth, "group": depth, "bias_term": False, "kernel_h": times, "kernel_w": 1}
    return ctx.layer("Deconvolution", [row], {"convolution_param": params}, weights=[ones], role=role,
                     shape=(count, depth, times, width))


def _sum_channels(ctx, x: Blob, scale: float, role: str) -> Blob:
    """scale · Σ over the channels of a 4-D blob: a 1×1 Convolution, one output, weights ``scale``."""
    weight = ctx.constant(np.full((1, x.shape[1], 1, 1), scale), f"{scale:g}: sums the terms over K")
    params = {"num_output": 1, "bias_term": False, "kernel_size": [1]}
    return ctx.layer("Convolution", [x], {"convolution_param": params}, weights=[weight], role=role,
                     shape=(x.shape[0], 1) + x.shape[2:])



def reshape_leading(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Reshape to ``shape`` with the leading axis inferred (−1), so that any batch passes; no layer when
    the shape is already right."""
    if tuple(shape) == tuple(x.shape):
        return x
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [-1, *shape[1:]]}}}, role=role,
                     shape=tuple(shape))
