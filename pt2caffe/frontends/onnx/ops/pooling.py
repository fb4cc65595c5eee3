"""MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (ONNX Operators.md: pads as [begins..., ends...],
auto_pad, ceil_mode from opset 10, dilations from 10 for MaxPool and 19 for AveragePool)."""
from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F

from ..registry import converts
from .windows import split_padding, window_pads

_MAX = {2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _window(ctx, x):
    kernel = ctx.attr("kernel_shape")
    rank = len(kernel)
    strides = ctx.attr("strides", [1] * rank)
    dilations = ctx.attr("dilations", [1] * rank)
    pads = window_pads(ctx, list(x.shape[2:]), kernel, strides, dilations)
    return rank, kernel, strides, dilations, pads, bool(ctx.attr("ceil_mode", 0))


@converts("MaxPool")
def max_pool(ctx, x):
    if ctx.uses_beyond_first():
        raise ctx.fail("its Indices output is used: pooling indices have no Caffe counterpart here")
    rank, kernel, strides, dilations, pads, ceil = _window(ctx, x)
    if all(d == 1 for d in dilations):  # the edge value: a window reaching into the padding holds the edge too
        x, padding = split_padding(x, pads, mode="replicate")
    else:  # float32's lowest, onnxruntime's start value of a max (finite: −inf × a 0 weight would be NaN)
        x, padding = split_padding(x, pads, value=float(np.finfo(np.float32).min))
    if any(p * 2 > k for p, k in zip(padding, kernel)):
        raise ctx.fail(f"padding {padding} is more than half the kernel {kernel}")
    if rank == 1:  # as 2-D pooling over a height of 1 (the same windows)
        y = F.max_pool2d(x.unsqueeze(2), (1, kernel[0]), (1, strides[0]), (0, padding[0]), (1, dilations[0]), ceil)
        return y.squeeze(2)
    return _MAX[rank](x, kernel, strides, padding, dilations, ceil_mode=ceil)


@converts("AveragePool")
def average_pool(ctx, x):
    """Average pooling. count_include_pad=0 with asymmetric pads: the average over the zero-padded input
    (count_include_pad as torch counts it), divided by the share of real cells in each window (a constant:
    the same pooling of a mask that is 1 on the input, 0 on the padding)."""
    rank, kernel, strides, dilations, pads, ceil = _window(ctx, x)
    if any(d != 1 for d in dilations):
        raise ctx.fail(f"dilations {dilations} in average pooling are not supported")
    include = bool(ctx.attr("count_include_pad", 0))
    if not include and all(b == e for b, e in pads):
        return _AVG[rank](x, kernel, strides, [b for b, _ in pads], ceil_mode=ceil, count_include_pad=False)
    padded, padding = split_padding(x, pads)
    y = _AVG[rank](padded, kernel, strides, padding, ceil_mode=ceil, count_include_pad=True)
    if include:
        return y
    mask, _ = split_padding(torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype), pads)
    return y / _AVG[rank](mask, kernel, strides, padding, ceil_mode=ceil, count_include_pad=True)


@converts("GlobalAveragePool")
def global_average_pool(ctx, x):
    return torch.mean(x, dim=tuple(range(2, x.dim())), keepdim=True)


@converts("GlobalMaxPool")
def global_max_pool(ctx, x):
    return torch.amax(x, dim=tuple(range(2, x.dim())), keepdim=True)
