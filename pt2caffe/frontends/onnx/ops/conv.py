"""Conv and ConvTranspose (ONNX Operators.md): pads as [x1_begin, x2_begin, …, x1_end, x2_end, …], auto_pad
SAME_UPPER (extra padding at the end), SAME_LOWER (at the beginning), VALID; ConvTranspose's output_shape
and output_padding give the total padding (output = stride·(in − 1) + output_padding + (k − 1)·dilation + 1
− pads), SAME_UPPER putting its smaller half first. torch takes symmetric padding only: the rest is an
explicit pad (Conv) or a crop (ConvTranspose)."""
from __future__ import annotations

import torch.nn.functional as F

from ..registry import converts
from .windows import split_padding, window_pads

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _attrs(ctx, weight):
    rank = weight.dim() - 2
    kernel = ctx.attr("kernel_shape", list(weight.shape[2:]))
    return (rank, kernel, ctx.attr("strides", [1] * rank), ctx.attr("dilations", [1] * rank), ctx.attr("group", 1))


@converts("Conv")
def conv(ctx, x, weight, bias=None):
    rank, kernel, strides, dilations, group = _attrs(ctx, weight)
    pads = window_pads(ctx, list(x.shape[2:]), kernel, strides, dilations)
    x, padding = split_padding(x, pads)
    return _CONV[rank](x, weight, bias, strides, padding, dilations, group)


@converts("ConvTranspose")
def conv_transpose(ctx, x, weight, bias=None):
    rank, kernel, strides, dilations, group = _attrs(ctx, weight)
    output_padding = ctx.attr("output_padding", [0] * rank)
    spatial = list(x.shape[2:])
    full = [s * (n - 1) + op + (k - 1) * d + 1 for n, s, op, k, d in zip(spatial, strides, output_padding, kernel, dilations)]
    output_shape = ctx.attr("output_shape")
    auto = ctx.attr("auto_pad", "NOTSET")
    if output_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = list(output_shape)[-rank:] if output_shape is not None else [n * s for n, s in zip(spatial, strides)]
        totals = [f - t for f, t in zip(full, target)]
        upper = auto == "SAME_UPPER"
        pads = [(t // 2, t - t // 2) if upper else (t - t // 2, t // 2) for t in totals]
    elif auto == "VALID":
        pads = [(0, 0)] * rank
    else:
        flat = ctx.attr("pads", [0] * (2 * rank))
        pads = [(flat[i], flat[i + rank]) for i in range(rank)]
    if any(b < 0 or e < 0 for b, e in pads):
        raise ctx.fail(f"negative padding {pads} (output larger than the full transposed convolution)")
    padding = [min(b, e) for b, e in pads]
    y = _DECONV[rank](x, weight, bias, strides, padding, output_padding, group, dilations)
    crops = [(b - p, e - p) for (b, e), p in zip(pads, padding)]
    if any(b or e for b, e in crops):
        index = (slice(None), slice(None)) + tuple(slice(b, y.shape[2 + i] - e) for i, (b, e) in enumerate(crops))
        y = y[index]
    return y
