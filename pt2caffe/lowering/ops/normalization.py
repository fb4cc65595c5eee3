"""Normalisation: BatchNorm (any rank ≥ 2) as Caffe BatchNorm + Scale, LocalResponseNorm as LRN, and
GroupNorm / InstanceNorm / LayerNorm as exact compositions.

Caffe's MVN divides by (σ + eps) where torch divides by sqrt(σ² + eps), so MVN only centres
here. The statistics of every normalised group are those of one (a, b) slice of a 4-D view
(A, B, h, w) of the input:

    centred = MVN(view, normalize_variance: false)          x − mean, per (a, b)
    inverse = Power(AVE Pooling(Power(centred, 2)), shift eps, power −½)   1 / sqrt(var + eps)
    result  = Eltwise PROD(centred, inverse repeated over h × w)   (a depthwise Deconvolution of ones)

(the biased variance, as torch uses), then the view is undone and the per-channel (or
per-element, for LayerNorm) affine parameters are one Scale (bias_term) layer.
"""
from __future__ import annotations

import math

import numpy as np

from ..choice import Form
from ..compose import ELTWISE_PROD, ELTWISE_SUM, broadcast_to, eltwise, power, reshape, scale_axes
from ..registry import handles


def _running_stats_norm(ctx, x, mean, var, gamma, beta, eps: float):
    """(x − running mean) / sqrt(running var + eps) · gamma + beta: BatchNorm (+ Scale)."""
    affine = gamma is not None or beta is not None
    weights = [ctx.weight(mean), ctx.weight(var), ctx.constant(np.ones(1), "BatchNorm scale factor 1")]
    y = ctx.layer("BatchNorm", [ctx.blob(x)], {"batch_norm_param": {"use_global_stats": True, "eps": eps}},
                  weights=weights, role="bn" if affine else None)
    if not affine:
        return y
    channels = ctx.shape(x)[1]
    scale = ctx.weight(gamma) if gamma is not None else ctx.constant(np.ones(channels), "no affine weight: 1")
    shift = ctx.weight(beta) if beta is not None else ctx.constant(np.zeros(channels), "no affine bias: 0")
    return ctx.layer("Scale", [y], {"scale_param": {"bias_term": True}}, weights=[scale, shift])


@handles("batch_norm", lowering="BatchNorm (use_global_stats, scale factor 1) + Scale (bias_term)")
def batch_norm(op, ctx):
    x, mean, var = op.arg(0, "input"), op.arg(1, "running_mean"), op.arg(2, "running_var")
    if op.arg(5, "training", False) or mean is None:
        raise ctx.fail("batch statistics of the current batch are used (training mode or "
                       "track_running_stats=False); export needs running statistics")
    return _running_stats_norm(ctx, x, mean, var, op.arg(3, "weight"), op.arg(4, "bias"), float(op.arg(7, "eps", 1e-5)))


@handles("local_response_norm", lowering="LRN (ACROSS_CHANNELS; odd size; k folded in: LRN with k 1 + Power)",
         portable="✓ except k ≤ 0 (kept in the LRN: OpenCV and MNN ignore k)")
def local_response_norm(op, ctx):
    """b = a / (k + α/n·Σa²)^β (torch.nn.functional.local_response_norm; Caffe's lrn_layer.cpp computes the
    same with its ``k``). OpenCV and MNN ignore Caffe's ``k``, so for k > 0 it is folded out exactly:
    (k + α/n·S)^β = k^β·(1 + (α/k)/n·S)^β, i.e. LRN with alpha α/k and k 1, then Power with scale k^−β.
    k ≤ 0 keeps Caffe's own ``k`` (exact in Caffe only)."""
    size = int(op.arg(1, "size"))
    if size % 2 == 0:
        raise ctx.fail(f"size {size} is even: Caffe's LRN window is centred and needs an odd size")
    if len(ctx.shape(op.arg(0, "input"))) != 4:
        raise ctx.fail("Caffe's LRN needs a 4-D input")
    alpha, beta, k = float(op.arg(2, "alpha", 1e-4)), float(op.arg(3, "beta", 0.75)), float(op.arg(4, "k", 1.0))
    x = ctx.blob(op.arg(0, "input"))
    if k == 1.0 or k <= 0:
        return ctx.layer("LRN", [x], {"lrn_param": {"local_size": size, "alpha": alpha, "beta": beta, "k": k}})
    params = {"local_size": size, "alpha": alpha / k, "beta": beta, "k": 1.0}
    return power(ctx, ctx.layer("LRN", [x], {"lrn_param": params}, role="lrn"), scale=k ** -beta)


def _standardize(ctx, x, eps: float, role: str | None):
    """(x − mean) / sqrt(var + eps) of every (a, b) slice of the 4-D blob ``x``, over its h × w values."""
    tag = role or "standardize"
    centred = ctx.choose(
        Form("MVN", lambda ctx: ctx.layer("MVN", [x], {"mvn_param": {"normalize_variance": False}},
                                          role=f"{tag}/centre", shape=x.shape)),
        Form("mean by Pooling", lambda ctx: _centre_by_pooling(ctx, x, tag)))
    squared = eltwise(ctx, [centred, centred], ELTWISE_PROD, role=f"{tag}/square")  # not Power: MNN's pow
    variance = ctx.layer("Pooling", [squared], {"pooling_param": {"pool": "AVE", "global_pooling": True}},
                         role=f"{tag}/variance", shape=x.shape[:2] + (1, 1))
    inverse = power(ctx, variance, power=-0.5, shift=eps, role=f"{tag}/inverse_std")
    spread = broadcast_to(ctx, inverse, x.shape, role=f"{tag}/spread")
    return eltwise(ctx, [centred, spread], ELTWISE_PROD, role=role)


def _centre_by_pooling(ctx, x, tag: str):
    """x − mean over each (a, b) slice's h × w values, where the target refuses MVN (RKNN loads it and computes
    something else): global AVE Pooling (the mean: the sum divided by h·w, pooling_layer.cpp), repeated over
    h × w (broadcast_to), subtracted by an Eltwise."""
    mean = ctx.layer("Pooling", [x], {"pooling_param": {"pool": "AVE", "global_pooling": True}},
                     role=f"{tag}/mean", shape=x.shape[:2] + (1, 1))
    spread = broadcast_to(ctx, mean, x.shape, role=f"{tag}/mean_spread")
    return eltwise(ctx, [x, spread], ELTWISE_SUM, coeffs=[1.0, -1.0], role=f"{tag}/centre")


def _affine(ctx, y, weight, bias, axis: int):
    """y · weight + bias, the parameters spanning y's axes from ``axis`` (one Scale layer)."""
    parameter = weight if weight is not None else bias
    return scale_axes(ctx, y, ctx.weight(weight) if weight is not None else None,
                      ctx.weight(bias) if bias is not None else None, axis, axis + len(parameter.shape))


def _normalize(ctx, x, view: tuple[int, ...], eps: float, weight, bias, param_axis: int):
    """Standardise every (a, b) slice of the blob ``x`` seen as the 4-D ``view``, undo the view, apply the affine."""
    affine = weight is not None or bias is not None
    viewed = view != tuple(x.shape)
    blob = reshape(ctx, x, view, role="view")
    blob = _standardize(ctx, blob, float(eps), role="standardize" if affine or viewed else None)
    blob = reshape(ctx, blob, tuple(x.shape), role="unview" if affine else None)
    return _affine(ctx, blob, weight, bias, param_axis) if affine else blob


@handles("group_norm", lowering="Reshape (N, G, C/G, rest) + MVN (centre) + Eltwise PROD (square) + Pooling AVE "
                                "+ Power (+eps, −½) + Deconvolution (repeat) + Eltwise PROD + Reshape + Scale "
                                "(affine)")
def group_norm(op, ctx):
    x, groups = op.arg(0, "input"), int(op.arg(1, "num_groups"))
    batch, channels = x.shape[0], x.shape[1]
    view = (batch, groups, channels // groups, math.prod(x.shape[2:]))
    return _normalize(ctx, ctx.blob(x), view, op.arg(4, "eps", 1e-5), op.arg(2, "weight"), op.arg(3, "bias"), 1)


@handles("instance_norm", lowering="as group_norm with one channel per group; BatchNorm + Scale with running stats")
def instance_norm(op, ctx):
    x, mean, var = op.arg(0, "input"), op.arg(1, "running_mean"), op.arg(2, "running_var")
    weight, bias, eps = op.arg(3, "weight"), op.arg(4, "bias"), float(op.arg(7, "eps", 1e-5))
    if not op.arg(5, "use_input_stats", True):
        return _running_stats_norm(ctx, x, mean, var, weight, bias, eps)
    view = tuple(x.shape) if len(x.shape) == 4 else (x.shape[0], x.shape[1], 1, math.prod(x.shape[2:]))
    return _normalize(ctx, ctx.blob(x), view, eps, weight, bias, 1)


@handles("layer_norm", lowering="as group_norm over the trailing normalized_shape axes; Scale (per element)")
def layer_norm(op, ctx):
    x, normalized = op.arg(0, "input"), op.arg(1, "normalized_shape")
    normalized = tuple(normalized) if isinstance(normalized, (list, tuple)) else (int(normalized),)
    return layer_norm_blob(ctx, ctx.blob(x), len(normalized), op.arg(4, "eps", 1e-5), op.arg(2, "weight"),
                           op.arg(3, "bias"))


def layer_norm_blob(ctx, x, normalized_axes: int, eps: float, weight, bias):
    """torch.nn.functional.layer_norm of the blob ``x`` over its last ``normalized_axes`` axes; ``weight`` and
    ``bias`` are Const (or None)."""
    kept = x.shape[:len(x.shape) - normalized_axes]
    view = (kept[0] if kept else 1, math.prod(kept[1:]), 1, math.prod(x.shape[len(kept):]))
    return _normalize(ctx, x, view, eps, weight, bias, len(kept))

