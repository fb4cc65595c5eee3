"""Single-layer building blocks (Power, ReLU, Eltwise, clamp, Scale on any axes) and the argument helpers
every handler uses (axes, pairs, scalars, window fields).

Every function emits layers through an :class:`~pt2caffe.lowering.context.OpContext` and returns
the resulting blob. ``role`` names helper layers (``<op name>/<role>``); ``role=None`` marks the op's
own, final layer.
"""
from __future__ import annotations

import math
from dataclasses import replace
from numbers import Number

import numpy as np

from ...graph import Const
from ...net.builder import Blob, Weight
from ..choice import Form
from .channels import block_on_channels
from .layout import reshape, reshape_any_batch

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


# Largest channel count for which an affine becomes a Scale with per-channel constants (2 floats per channel).
SCALE_CHANNELS = 4096


def power(ctx, x: Blob, *, power: float = 1.0, scale: float = 1.0, shift: float = 0.0,
          role: str | None = None) -> Blob:
    """y = (shift + scale·x)^power.

    With power 1 on a 4-D blob (at most SCALE_CHANNELS channels) this is a one-bottom Scale whose per-channel
    weights are ``scale`` and biases ``shift`` (the same numbers: one multiply and one add, rounded once each
    as Power rounds them): MNN 3.6.1's Caffe converter turns every Power into an elementwise pow, even
    power 1 (tools/converter/source/optimizer/caffeextra/PowerTransform.cpp), about 30× a Scale
    (measured: ReLU6 as Power made MobileNetV2 6.5× slower than the ONNX route in MNN; issue 21).
    """
    if power == 1.0 and len(x.shape) == 4 and x.shape[1] <= SCALE_CHANNELS:
        return affine(ctx, x, scale, shift, role=role)
    params = {key: float(val) for key, val, default in
              (("power", power, 1.0), ("scale", scale, 1.0), ("shift", shift, 0.0)) if val != default}
    return ctx.layer("Power", [x], {"power_param": params}, role=role, shape=x.shape)


def affine(ctx, x: Blob, scale: float, shift: float, *, role: str | None = None) -> Blob:
    """scale·x + shift on a 4-D blob: a one-bottom Scale with ``scale`` and ``shift`` repeated per channel."""
    channels = x.shape[1]
    weights = [ctx.constant(np.full(channels, scale), f"{scale:g} per channel"),
               ctx.constant(np.full(channels, shift), f"{shift:g} per channel")]
    return ctx.layer("Scale", [x], {"scale_param": {"bias_term": True}}, weights=weights, role=role, shape=x.shape)


def as_planes(ctx, x: Blob, *, role: str) -> Blob:
    """x viewed as 4-D (N, C, rest, 1) for an elementwise composition (x itself when 4-D or rank < 2): the
    blob's own first two axes, so that OpenCV loops over few (n, c) planes and MNN pads few channels."""
    if len(x.shape) == 4 or len(x.shape) < 2:
        return x
    shape = tuple(x.shape[:2]) + (int(np.prod(x.shape[2:])), 1)
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [0, 0, -1, 1]}}}, role=role, shape=shape)


def unplanes(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None) -> Blob:
    """Undo ``as_planes``: x viewed back as ``shape`` (no layer when it already is)."""
    if tuple(x.shape) == tuple(shape):
        return x
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [0] + list(shape[1:])}}}, role=role,
                     shape=tuple(shape))


def relu(ctx, x: Blob, *, role: str | None = None, negative_slope: float = 0.0) -> Blob:
    params = {"relu_param": {"negative_slope": float(negative_slope)}} if negative_slope else {}
    return ctx.layer("ReLU", [x], params, role=role, shape=x.shape)


def eltwise(ctx, bottoms: list[Blob], operation: str, *, coeffs: list[float] | None = None,
            role: str | None = None) -> Blob:
    """Eltwise over same-shape ``bottoms``. A SUM coefficient other than ±1 scales its bottom by a
    Power first (MNN 3.6.1's forward fails on such coefficients): the same sum up to one float
    rounding of c·x (Caffe's Eltwise adds c·x with caffe_axpy). A PROD of more than two bottoms is also
    offered as a chain of two-bottom PRODs (RKNN's importer makes an invalid graph of it): the same products
    in the same order (eltwise_layer.cpp multiplies the bottoms in turn), bit for bit."""
    params = {"operation": operation}
    if operation == ELTWISE_PROD and len(bottoms) > 2:
        return ctx.choose(Form("one Eltwise", lambda ctx: ctx.layer("Eltwise", bottoms, {"eltwise_param": params},
                                                                    role=role, shape=bottoms[0].shape)),
                          Form("two bottoms at a time", lambda ctx: _pairwise_product(ctx, bottoms, role)))
    if coeffs:
        scaled = [b if abs(c) == 1 else power(ctx, b, scale=abs(float(c)), role=f"{role or 'eltwise'}/coeff{i}")
                  for i, (b, c) in enumerate(zip(bottoms, coeffs))]
        bottoms, coeffs = scaled, [1.0 if c >= 0 else -1.0 for c in coeffs]
        if any(c != 1.0 for c in coeffs):
            params["coeff"] = coeffs
    return ctx.layer("Eltwise", bottoms, {"eltwise_param": params}, role=role, shape=bottoms[0].shape)


def _pairwise_product(ctx, bottoms: list[Blob], role: str | None) -> Blob:
    product = bottoms[0]
    for i, bottom in enumerate(bottoms[1:], 1):
        last = i == len(bottoms) - 1
        product = ctx.layer("Eltwise", [product, bottom], {"eltwise_param": {"operation": ELTWISE_PROD}},
                            role=role if last else f"{role or 'product'}/times{i}", shape=bottoms[0].shape)
    return product


def absolute(ctx, x: Blob, *, role: str | None = None) -> Blob:
    """|x|: an AbsVal layer, or where the target refuses it (RKNN computes the identity for it) ReLU(x) +
    ReLU(−x), exact: one of the two terms is 0 and the other |x|."""
    def by_relus(ctx):
        tag = role or "abs"
        negated = relu(ctx, power(ctx, x, scale=-1.0, role=f"{tag}/negated"), role=f"{tag}/negative_part")
        return eltwise(ctx, [relu(ctx, x, role=f"{tag}/positive_part"), negated], ELTWISE_SUM, role=role)
    return ctx.choose(Form("AbsVal", lambda ctx: ctx.layer("AbsVal", [x], role=role, shape=x.shape)),
                      Form("ReLU(x) + ReLU(−x)", by_relus))


def clamp(ctx, x: Blob, low: float | None, high: float | None, *, role: str | None = None) -> Blob:
    """clamp(x, low, high) as a chain from ReLUs and shifts, ``high`` everywhere when low > high (as torch):
    high − ReLU((high − low) − ReLU(x − low)); low + ReLU(x − low); high − ReLU(high − x).

    A chain, not a sum of branches, so that the first ReLU reads x alone and OpenCV and MNN fuse it into the
    convolution before it; the shifts are Scales (``power``), on a 4-D view of x. ReLU6 is ReLU → Scale(−1, 6)
    → ReLU → Scale(−1, 6): two roundings of at most ½ ulp(6). Measured (issue 21): MobileNetV2 in MNN 6.5× →
    1.37× the ONNX route, in OpenCV 1.24× → 1.17×.
    """
    tag = role or "clamp"
    if low is None and high is None:
        return x
    if low is not None and high is not None and low > high:
        return power(ctx, x, scale=0.0, shift=high, role=role)
    shape, y = x.shape, as_planes(ctx, x, role=f"{tag}/as_planes")
    last = role if len(shape) == 4 else f"{tag}/result"
    if low is not None:
        y = y if low == 0 else power(ctx, y, shift=-low, role=f"{tag}/minus_low")
        if high is None:
            y = relu(ctx, y, role=last if low == 0 else f"{tag}/relu_low")
            y = y if low == 0 else power(ctx, y, shift=low, role=last)
            return unplanes(ctx, y, shape, role=role)
        y = power(ctx, relu(ctx, y, role=f"{tag}/relu_low"), scale=-1.0, shift=high - low, role=f"{tag}/flip")
    else:
        y = power(ctx, y, scale=-1.0, shift=high, role=f"{tag}/flip")
    y = power(ctx, relu(ctx, y, role=f"{tag}/relu_high"), scale=-1.0, shift=high, role=last)
    return unplanes(ctx, y, shape, role=role)


def add_constant(ctx, x: Blob, bias, axis: int, num_axes: int, *, role: str | None = None) -> Blob:
    """x + b for a constant weight ``b`` spanning axes [axis, axis + num_axes): ``scale_axes`` with no scale."""
    return scale_axes(ctx, x, None, bias, axis, axis + num_axes, role=role)


def scale_axes(ctx, x: Blob, scale: Weight | None, bias: Weight | None, start: int, stop: int, *,
               role: str | None = None) -> Blob:
    """x · scale + bias, constant weights spanning x's axes [start, stop) (either may be None).

    One Scale layer on axis 1 (``bias_term`` for the bias; a unit scale when only adding, which is
    exact, and OpenCV has no Bias layer). MNN computes Scale right only on the channels of a 4-D
    blob (measured: axis 2 with num_axes 2 gives 0.69 relative error), so any other block is first
    viewed as (−1, block, rest, 1), which Reshape does without moving data, and viewed back after; where
    the target refuses views across the batch (NNIE, ncnn), Permutes bring the block onto the channels
    instead (:func:`~pt2caffe.lowering.compose.channels.block_on_channels`).
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

    def apply_scale(ctx, blob):
        return ctx.layer("Scale", [blob], params, role=f"{tag}/scale", shape=blob.shape, weights=weights)

    def folded(ctx):
        viewed = reshape_any_batch(ctx, x, (count, int(np.prod(x.shape[stop:])), 1), role=f"{tag}/as_channels")
        scaled = apply_scale(ctx, viewed)
        if not x.shape:
            return reshape(ctx, scaled, (), role=role)
        return reshape_any_batch(ctx, scaled, x.shape[1:], role=role)

    def batch_kept(ctx):
        return block_on_channels(ctx, x, start, stop, apply_scale, x.shape, role=role)
    if start == 0:
        return folded(ctx)
    return ctx.choose(Form("batch-folding view", folded), Form("batch kept", batch_kept))


def _flat(weight: Weight, count: int) -> Weight:
    """``weight`` as the 1-D blob (count,) a Scale on one axis needs (same values, same order)."""
    return replace(weight, array=weight.array.reshape(count))
