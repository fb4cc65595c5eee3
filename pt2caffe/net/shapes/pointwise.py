"""Layers whose top has the bottom's shape: the neurons, Softmax, Eltwise, Scale, Bias, PReLU, BatchNorm, MVN,
LRN, Normalize.

Sources (stock SSD Caffe, src/caffe/layers/): neuron_layer.cpp (ReshapeLike, for AbsVal, BNLL, Dropout, ELU,
Exp, Log, Power, ReLU, Sigmoid, TanH, Threshold), softmax_layer.cpp, eltwise_layer.cpp, scale_layer.cpp,
bias_layer.cpp, prelu_layer.cpp, batch_norm_layer.cpp, mvn_layer.cpp (Reshape with the legacy 4-D
accessors: a 3-D bottom gives a 4-D top), lrn_layer.cpp, normalize_layer.cpp.
"""
from __future__ import annotations

from .rules import Out, canonical, check, legacy, legacy4, rule, same_shapes


@rule("AbsVal", "BNLL", "Dropout", "ELU", "Exp", "Log", "Power", "ReLU", "Sigmoid", "TanH", "Threshold")
def neuron(p, bottoms):
    return [bottoms[0]]


@rule("Softmax")
def softmax(p, bottoms):
    canonical(bottoms[0], p.softmax_param.axis)
    return [bottoms[0]]


@rule("Eltwise")
def eltwise(p, bottoms):
    e = p.eltwise_param
    check(len(e.coeff) in (0, len(bottoms)), "Eltwise Layer takes one coefficient per bottom blob")
    check(not (e.operation == e.PROD and len(e.coeff)), "Eltwise layer only takes coefficients for summation")
    same_shapes(bottoms)
    return [bottoms[0]]


def _factor_shape(shape, axis: int, num_axes: int, what: str):
    """The extents a Scale/Bias factor spans: ``num_axes`` from ``axis`` (−1: to the end)."""
    check(num_axes >= -1, "num_axes must be non-negative, or -1 to extend to the end of bottom[0]")
    axis = canonical(shape, axis)
    if num_axes >= 0:
        check(len(shape) >= axis + num_axes, f"{what} blob's shape extends past bottom[0]'s shape {list(shape)} "
                                             f"when applied starting with bottom[0] axis = {axis}")
    return tuple(shape[axis:] if num_axes == -1 else shape[axis:axis + num_axes])


def _applies(shape, factor, axis: int, what: str) -> None:
    """Reshape's check that the factor matches the bottom from ``axis`` (a 0-D factor: axis 0)."""
    axis = 0 if not factor else canonical(shape, axis)
    check(len(shape) >= axis + len(factor) and tuple(shape[axis:axis + len(factor)]) == tuple(factor),
          f"{what} shape {list(factor)} does not match bottom[0] {list(shape)} from axis {axis}")


@rule("Scale")
def scale(p, bottoms):
    """Scale by a learned blob (shape from axis, num_axes) or by bottom[1]; with bias_term a Bias of the same
    span (num_axes = bottom[1]'s rank with two bottoms)."""
    s, shape = p.scale_param, bottoms[0]
    learned = []
    if len(bottoms) == 1:
        learned.append(_factor_shape(shape, s.axis, s.num_axes, "scale"))
    factor = bottoms[1] if len(bottoms) > 1 else learned[0]
    _applies(shape, factor, s.axis, "scale")
    if s.bias_term:
        learned.append(_factor_shape(shape, s.axis, len(bottoms[1]) if len(bottoms) > 1 else s.num_axes, "bias"))
    return Out([shape], learned)


@rule("Bias")
def bias(p, bottoms):
    b, shape = p.bias_param, bottoms[0]
    learned = [] if len(bottoms) > 1 else [_factor_shape(shape, b.axis, b.num_axes, "bias")]
    _applies(shape, bottoms[1] if len(bottoms) > 1 else learned[0], b.axis, "bias")
    return Out([shape], learned)


@rule("PReLU", "Normalize")
def per_channel(p, bottoms):
    """PReLU's slopes, Normalize's scale: (C), or one value (a 0-D blob) with channel_shared; 2 to 4 axes
    (CHECK_GE 2, and the legacy channels() accessor)."""
    shape = bottoms[0]
    check(len(shape) >= 2, "number of axes of bottom blob must be >=2")
    channels = legacy(shape, 1)
    shared = (p.prelu_param if p.type == "PReLU" else p.norm_param).channel_shared
    return Out([shape], [() if shared else (channels,)])


@rule("BatchNorm")
def batch_norm(p, bottoms):
    """Mean (C), variance (C), scale factor (1); C = axis 1 (1 for a 1-D bottom)."""
    shape = bottoms[0]
    channels = 1 if len(shape) == 1 else shape[1]
    return Out([shape], [(channels,), (channels,), (1,)])


@rule("MVN")
def mvn(p, bottoms):
    """(num, channels, height, width) by the legacy accessors: a 2- or 3-D bottom gives a 4-D top."""
    return [legacy4(bottoms[0])]


@rule("LRN")
def lrn(p, bottoms):
    check(p.lrn_param.local_size % 2 == 1, "LRN only supports odd values for local_size")
    check(len(bottoms[0]) == 4, f"input must have 4 axes, corresponding to (num, channels, height, width): "
                                f"{list(bottoms[0])}")
    return [bottoms[0]]

