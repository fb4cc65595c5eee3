"""Exponentials: Caffe's Exp layer, or — where the target refuses Exp (RKNN loads it and computes something
else: issue 24's measurements) — the same values from Sigmoid layers.

Stock Caffe's Sigmoid is σ(x) = 1 / (1 + exp(−x)) (sigmoid_layer.cpp), so

    σ(x) / σ(−x) = (1 + eˣ) / (1 + e⁻ˣ) = eˣ

with no cancellation for either sign: each factor keeps float32's relative precision, and the quotient is
within a few ulps of eˣ (at most 2.1e-7 relative per element in pycaffe against float64, measured on 174,001
points of [−87, 87]). Beyond 87, σ(−x) is a
subnormal float32 and precision drops until eˣ overflows at 88.7 as in torch; below −88.7 both give 0.
Layers: Sigmoid, Power (scale −1), Sigmoid, Power (power −1), Eltwise PROD.

Every function emits layers through an :class:`~pt2caffe.lowering.context.OpContext` and returns the
resulting blob. ``role`` names helper layers (``<op name>/<role>``); ``role=None`` marks the op's own,
final layer.
"""
from __future__ import annotations

import math

from ...net.builder import Blob
from ..choice import Form
from .basic import ELTWISE_PROD, ELTWISE_SUM, eltwise, power, relu
from .layout import concat, slice_parts


def exponential(ctx, x: Blob, *, base: float | None = None, role: str | None = None) -> Blob:
    """base^x (e^x without ``base``): an Exp layer, or σ(x·ln base)/σ(−x·ln base) where Exp is refused."""
    params = {"exp_param": {"base": base}} if base is not None else {}
    return ctx.choose(Form("Exp", lambda ctx: ctx.layer("Exp", [x], params, role=role, shape=x.shape)),
                      Form("σ(x)/σ(−x)", lambda ctx: _by_sigmoids(ctx, x, math.log(base) if base else 1.0, role)))


def _by_sigmoids(ctx, x: Blob, factor: float, role: str | None) -> Blob:
    tag = role or "exp"
    scaled = x if factor == 1.0 else power(ctx, x, scale=factor, role=f"{tag}/exponent")
    rising = ctx.layer("Sigmoid", [scaled], role=f"{tag}/sigmoid", shape=x.shape)
    negated = power(ctx, scaled, scale=-1.0, role=f"{tag}/negated")
    falling = ctx.layer("Sigmoid", [negated], role=f"{tag}/sigmoid_of_negated", shape=x.shape)
    inverse = power(ctx, falling, power=-1.0, role=f"{tag}/inverse")
    return eltwise(ctx, [rising, inverse], ELTWISE_PROD, role=role)


def elu(ctx, x: Blob, alpha: float, *, role: str | None = None) -> Blob:
    """ELU(x) = x for x > 0, α(eˣ − 1) otherwise: an ELU layer, or where the target refuses ELU (RKNN, as Exp)
    ReLU(x) + α·e^min(x, 0) − α, with min(x, 0) = −ReLU(−x) (exact) and the exponential above."""
    def composed(ctx):
        tag = role or "elu"
        positive = relu(ctx, x, role=f"{tag}/positive_part")
        flipped = relu(ctx, power(ctx, x, scale=-1.0, role=f"{tag}/negated"), role=f"{tag}/negative_part")
        decay = exponential(ctx, power(ctx, flipped, scale=-1.0, role=f"{tag}/minimum"), role=f"{tag}/exp")
        tail = power(ctx, decay, scale=alpha, shift=-alpha, role=f"{tag}/tail")
        return eltwise(ctx, [positive, tail], ELTWISE_SUM, role=role)
    return ctx.choose(Form("ELU", lambda ctx: ctx.layer("ELU", [x], {"elu_param": {"alpha": alpha}}, role=role,
                                                        shape=x.shape)),
                      Form("ReLU + α(exp(min(x, 0)) − 1)", composed))


def log_sum_exp(ctx, x: Blob, axis: int, *, role: str = "logsumexp") -> Blob:
    """log Σ exp(x) over ``axis`` (kept with length 1) without Exp or Log layers: pairs of entries are merged by
    log(eᵃ + eᵇ) = a + BNLL(b − a) (BNLL(d) = log(1 + eᵈ), computed by Caffe as d + log(1 + e⁻ᵈ) for d > 0:
    bnll_layer.cpp, so no overflow), halving the axis per step (an odd entry waits a step). Each step costs
    float32 rounding of the running sum (a few ulps of it); log₂(length) steps of Slice, Eltwise, BNLL,
    Eltwise (+ Concat for an odd length)."""
    tag, step = role, 0
    while x.shape[axis] > 1:
        half, length = x.shape[axis] // 2, x.shape[axis]
        sizes = [half, half] + ([1] if length % 2 else [])
        parts = slice_parts(ctx, x, axis, sizes, role=f"{tag}/halves{step}")
        gap = eltwise(ctx, [parts[1], parts[0]], ELTWISE_SUM, coeffs=[1.0, -1.0], role=f"{tag}/gap{step}")
        softplus = ctx.layer("BNLL", [gap], role=f"{tag}/softplus{step}", shape=gap.shape)
        merged = eltwise(ctx, [parts[0], softplus], ELTWISE_SUM, role=f"{tag}/merged{step}")
        if len(parts) == 3:
            merged = concat(ctx, [merged, parts[2]], axis, f"{tag}/carried{step}")
        x, step = merged, step + 1
    return x
