"""Indices as values: the first maximum along an axis (argmax, max with indices) and the one-hot of an integer
index, from layers every runtime runs exactly.

Caffe's ArgMax layer takes the *last* maximum on ties (argmax_layer.cpp sorts (value, index) pairs with
std::greater), PyTorch the first; OpenCV 4.14 has no ArgMax layer and MNN 3.6.1's returns integers its
float readers misread (measured). So, over an axis of K entries (viewed as (outer, 1, K, inner)):

1. m = the maximum (a K×1 MAX Pooling: a copy of the largest value), repeated to K rows (Deconvolution of
   ones: copies); d = m − x ≥ 0, which is 0 exactly where x equals the maximum;
2. e = [d = 0] = ReLU(1 − 2¹²⁷·min(d, 1)) with min(d, 1) = −max(−d, −1) (Power, Eltwise MAX): 1 at the
   maxima, 0 wherever d is at least 2⁻¹²⁶ (every normal float; a subnormal gap counts partly). Not
   ReLU(1 − 2¹²⁷·d): for d ≥ 2 that is ReLU(−inf), and Caffe's ReLU computes 0·(−inf) = NaN;
3. the first maximum: f_k = ReLU(e_k − Σ_{j<k} e_j), one 1×1 Convolution over the K channels (I minus the
   strictly lower triangle of ones) and a ReLU: the one-hot of PyTorch's index;
4. the index Σ_k k·f_k (a 1×1 Convolution with weights 0…K−1).

The one-hot of an integer-valued blob i over K classes is ReLU(1 − |i − k|) for k = 0…K−1, exact on
integers. Every step is a copy, an exact sum of integers, or a multiplication by 0, ±1 or 2¹²⁷.
"""
from __future__ import annotations

import math

import numpy as np

from ...net.builder import Blob
from .basic import ELTWISE_MAX, ELTWISE_SUM, absolute, add_constant, eltwise, power, relu, window
from .broadcast import broadcast_to
from .layout import reshape, reshape_any_batch

HUGE = float(2.0 ** 127)  # × any normal float ≥ 2⁻¹²⁶ exceeds 1; × 1 stays finite


def _column(ctx, x: Blob, axis: int, role: str) -> tuple[Blob, int, int, int]:
    """``x`` viewed as (outer, 1, K, inner) with the axis as its height; returns (view, outer, K, inner)."""
    outer, count, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    return reshape(ctx, x, (outer, 1, count, inner), role=f"{role}/column"), outer, count, inner


def _conv(ctx, x: Blob, weights: np.ndarray, what: str, role: str) -> Blob:
    params = {"num_output": weights.shape[0], "bias_term": False, "kernel_size": [1]}
    return ctx.layer("Convolution", [x], {"convolution_param": params}, role=role,
                     shape=(x.shape[0], weights.shape[0]) + x.shape[2:], weights=[ctx.constant(weights, what)])


def first_maximum(ctx, x: Blob, axis: int, *, role: str) -> tuple[Blob, Blob, Blob]:
    """(maximum, index of its first occurrence, one-hot of that index) of ``x`` along ``axis``, shaped
    (outer, 1, 1, inner), (outer, 1, inner, 1) and (outer, K, inner, 1) (module docstring)."""
    column, outer, count, inner = _column(ctx, x, axis, role)
    pooled = ctx.layer("Pooling", [column], {"pooling_param": {"pool": "MAX", **window((count, 1), repeated=False)}},
                       role=f"{role}/maximum", shape=(outer, 1, 1, inner))
    repeated = broadcast_to(ctx, pooled, column.shape, role=f"{role}/maximum_everywhere")
    gap = eltwise(ctx, [repeated, column], ELTWISE_SUM, coeffs=[1, -1], role=f"{role}/gap")
    capped = eltwise(ctx, [power(ctx, gap, scale=-1.0, role=f"{role}/minus_gap"),
                           power(ctx, gap, scale=0.0, shift=-1.0, role=f"{role}/minus_one")],
                     ELTWISE_MAX, role=f"{role}/minus_capped_gap")
    equal = relu(ctx, power(ctx, capped, scale=HUGE, shift=1.0, role=f"{role}/equal_or_below"), role=f"{role}/equal")
    channels = reshape(ctx, equal, (outer, count, inner, 1), role=f"{role}/equal_by_channel")
    firsts = np.eye(count) - np.tril(np.ones((count, count)), -1)
    first = relu(ctx, _conv(ctx, channels, firsts.reshape(count, count, 1, 1), "e_k − Σ_{j<k} e_j",
                            f"{role}/before_first"), role=f"{role}/first")
    index = _conv(ctx, first, np.arange(count, dtype=np.float64).reshape(1, count, 1, 1), "k: the index",
                  f"{role}/index")
    return pooled, index, first


def one_hot(ctx, index: Blob, classes: int, *, role: str | None = None) -> Blob:
    """(M, classes, 1, 1): ReLU(1 − |i − k|) for each of the M integer values i of ``index``."""
    tag = role or "one_hot"
    column = reshape_any_batch(ctx, index, (1, 1, 1), role=f"{tag}/column")
    copies = _conv(ctx, column, np.ones((classes, 1, 1, 1)), "copies of the index", f"{tag}/copies")
    offset = add_constant(ctx, copies, ctx.constant(-np.arange(classes, dtype=np.float64), "−k"), 1, 1,
                          role=f"{tag}/offset")
    distance = absolute(ctx, offset, role=f"{tag}/distance")
    return relu(ctx, power(ctx, distance, scale=-1.0, shift=1.0, role=f"{tag}/closeness"), role=role)
