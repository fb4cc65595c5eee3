"""Resize (10, 11, 13, 18, 19; antialias from 18) and Upsample (7, 9): one (out × in) matrix per resized axis
(resize_weights)."""
from __future__ import annotations

import math

import numpy as np

from ..registry import converts
from .axis_maps import apply_matrices
from .resize_weights import antialias_matrix, axis_matrix, output_length


def _resize(ctx, x, scales, sizes, roi, mode: str, coordinates: str, rounding: str, antialias: bool = False):
    """x resized per axis; ``scales`` (float32 values) or ``sizes`` per axis of x, ``roi`` (starts, ends) or None;
    ``antialias``: linear/cubic kernels stretched when downsampling (resize_weights.antialias_matrix)."""
    rank = x.dim()  # both scales and sizes: keep_aspect_ratio_policy's lengths and scale
    lengths = [int(sizes[a]) if sizes else output_length(x.shape[a], scales[a]) for a in range(rank)]
    if lengths == list(x.shape):  # onnxruntime copies the input when no axis changes size, whatever the scales
        return x
    matrices = {}
    for axis in range(rank):
        scale = float(np.float32(scales[axis])) if scales else lengths[axis] / x.shape[axis]
        if scale == 1 or (antialias and lengths[axis] == x.shape[axis]):  # onnxruntime copies such an axis
            continue
        if antialias:
            matrices[axis] = antialias_matrix(x.shape[axis], lengths[axis], scale, mode, coordinates,
                                              ctx.attr("cubic_coeff_a", -0.75), bool(ctx.attr("exclude_outside", 0)))
            continue
        box = (roi[axis], roi[axis + rank]) if roi else (0.0, 1.0)
        matrices[axis] = axis_matrix(x.shape[axis], lengths[axis], scale, mode, coordinates, rounding,
                                     ctx.attr("cubic_coeff_a", -0.75), bool(ctx.attr("exclude_outside", 0)), box,
                                     extrapolate=bool(roi))
    if any(axis < 2 for axis in matrices):
        raise ctx.fail("resizing the batch or channel axis is not supported")
    return apply_matrices(x, matrices)


@converts("Resize")
def resize(ctx, x, roi=None, scales=None, sizes=None):
    inputs = [x, roi, scales, sizes]
    mode = ctx.attr("mode", "nearest")
    if ctx.opset < 11:  # Resize-10: (X, scales), asymmetric coordinates, onnxruntime's "simple" nearest pixel
        return _resize(ctx, x, ctx.const(inputs, 1, "scales"), None, None, mode, "asymmetric", "simple")
    roi, scales, sizes = ctx.const(inputs, 1, "roi"), ctx.const(inputs, 2, "scales"), ctx.const(inputs, 3, "sizes")
    antialias = bool(ctx.attr("antialias", 0)) and mode != "nearest"  # the spec: linear and cubic only
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if policy not in ("stretch", "not_larger", "not_smaller"):
        raise ctx.fail(f"keep_aspect_ratio_policy {policy!r} is not one of stretch, not_larger, not_smaller")
    axes = ctx.attr("axes")
    if axes is not None:
        scales, sizes = _on_axes(x, [a % x.dim() for a in axes], scales, sizes)
    if sizes and policy != "stretch":
        scales, sizes = _keep_aspect_ratio(x, sizes, range(x.dim()) if axes is None else axes, policy)
    coordinates = ctx.attr("coordinate_transformation_mode", "half_pixel")
    crop = coordinates == "tf_crop_and_resize"
    if crop and ctx.attr("extrapolation_value", 0.0) != 0.0:
        raise ctx.fail("tf_crop_and_resize with a non-zero extrapolation_value is not a linear map")
    if crop and antialias:
        raise ctx.fail("antialias=1 with tf_crop_and_resize is not supported")
    if crop and axes is not None and roi:
        roi = _on_axes(x, [a % x.dim() for a in axes], roi[:len(axes)], None)[0] + \
            _on_axes(x, [a % x.dim() for a in axes], roi[len(axes):], None)[0]
    return _resize(ctx, x, scales or None, sizes or None, roi if crop else None, mode, coordinates,
                   ctx.attr("nearest_mode", "round_prefer_floor"), antialias)


def _keep_aspect_ratio(x, sizes, axes, policy: str):
    """Resize-18's keep_aspect_ratio_policy as onnxruntime computes it: one float32 scale over ``axes``, the
    smallest (not_larger) or largest (not_smaller) of sizes/input, and lengths roundf(scale · input) there."""
    axes = [a % x.dim() for a in axes]
    ratios = [np.float32(sizes[a]) / np.float32(x.shape[a]) for a in axes]
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    scales = [float(scale) if a in axes else 1.0 for a in range(x.dim())]
    lengths = [math.floor(float(scale * np.float32(x.shape[a])) + 0.5) if a in axes else x.shape[a]  # roundf
               for a in range(x.dim())]
    return scales, lengths


def _on_axes(x, axes, scales, sizes):
    """Per-axis ``scales``/``sizes`` given for ``axes`` only (opset 18) widened to every axis of x."""
    full_scales = [1.0] * x.dim() if scales else None
    full_sizes = list(x.shape) if sizes else None
    for i, axis in enumerate(axes):
        if scales:
            full_scales[axis] = scales[i]
        if sizes:
            full_sizes[axis] = sizes[i]
    return full_scales, full_sizes


@converts("Upsample")
def upsample(ctx, x, scales=None):
    scales = ctx.attr("scales") if ctx.opset < 9 else ctx.const([x, scales], 1, "scales")
    mode = "linear" if ctx.attr("mode", "nearest") in ("linear", "bilinear") else "nearest"
    return _resize(ctx, x, scales, None, None, mode, "asymmetric", "simple")
