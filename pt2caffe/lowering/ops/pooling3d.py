"""3-D pooling (MaxPool3d/AvgPool3d), including the 4-D case that pools across channels.

PyTorch reads a 4-D input of a 3-D pooling as one unbatched (C, D, H, W) volume: on an (N, C, H,
W) feature map (LPRNet's ``nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(2, 1, 2))``) the window
runs over C, H and W, separately for each of the N images. A box window is separable: max (or
average) over H×W first, then over D. The H×W stage is a Pooling on the (−1, D, H, W) view; the
D stage a Pooling with a (k_d, 1) window on the (−1, 1, D, H'·W') view, or — a window of one
along D, as LPRNet's — the one-hot strided Convolution of strided slicing, which needs no crop.
Averages: Caffe divides each stage by its own (clipped) window; PyTorch's divisor is their
product, or the valid counts' product (count_include_pad=False), or divisor_override: per-stage
corrections make up the difference.
"""
from __future__ import annotations

import numpy as np

from ..compose import reshape_any_batch
from ..registry import handles
from .indexing import strided_select
from .pooling import pool_blob, window_counts


def _triple(value) -> tuple[int, int, int]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value) if len(value) == 3 else (int(value[0]),) * 3
    return (int(value),) * 3


def _divisors(sizes, outs, kernel, stride, pad, count_pad: bool):
    """Per axis: Caffe's divisor and PyTorch's divisor for each output position."""
    pairs = [window_counts(*args) for args in zip(sizes, outs, kernel, stride, pad)]
    return [caffe for caffe, _ in pairs], [caffe if count_pad else valid for caffe, valid in pairs]


def _pool3d(op, ctx, method: str, ceil_mode: bool, count_pad: bool = True, divisor: int | None = None):
    x = op.arg(0, "input")
    if len(x.shape) not in (4, 5):
        raise ctx.fail(f"expects a 4-D or 5-D input, got shape {list(x.shape)}")
    kernel = _triple(op.arg(1, "kernel_size"))
    stride = _triple(op.arg(2, "stride") or kernel)
    pad = _triple(op.arg(3, "padding", 0))
    depth, height, width = x.shape[-3:]
    out = ctx.out_shape[-3:]
    caffe_div, torch_div = _divisors(x.shape[-3:], out, kernel, stride, pad, count_pad)
    if divisor:  # the whole divisor goes to the D stage
        torch_div = [np.full_like(torch_div[0], divisor), np.ones_like(torch_div[1]), np.ones_like(torch_div[2])]
    correction_hw = None
    if method == "AVE" and not all(np.array_equal(c, t) for c, t in zip(caffe_div[1:], torch_div[1:])):
        correction_hw = np.outer(caffe_div[1], caffe_div[2]) / np.outer(torch_div[1], torch_div[2])
    planes = ctx.blob(x) if len(x.shape) == 4 else reshape_any_batch(ctx, ctx.blob(x), (depth, height, width),
                                                                     role="planes")
    flat = pool_blob(ctx, planes, method, kernel[1:], stride[1:], pad[1:], out[1:], correction_hw,
                     floor_mode=not ceil_mode, role="hw")[0]
    column = reshape_any_batch(ctx, flat, (1, depth, out[1] * out[2]), role="depth_as_height")
    depth_factor = caffe_div[0] / torch_div[0]
    if kernel[0] == 1 and pad[0] == 0 and np.all(depth_factor == 1):  # a plain selection along D
        column = strided_select(ctx, column, {2: (0, out[0], stride[0])}, role="depth")
    else:
        correction = None if np.all(depth_factor == 1) else np.outer(depth_factor, np.ones(out[1] * out[2]))
        column = pool_blob(ctx, column, method, (kernel[0], 1), (stride[0], 1), (pad[0], 0),
                           (out[0], out[1] * out[2]), correction, floor_mode=not ceil_mode, role="depth")[0]
    return [reshape_any_batch(ctx, column, ctx.out_shape[1:])] + [None] * (len(op.outputs) - 1)


@handles("max_pool3d", lowering="Pooling over H×W, then over D on an (−1, 1, D, H·W) view (a window of 1 along D: "
                                "one-hot strided Convolution); 4-D input pools across channels")
def max_pool3d(op, ctx):
    if _triple(op.arg(4, "dilation", 1)) != (1, 1, 1):
        raise ctx.fail("Caffe's Pooling has no dilation")
    return _pool3d(op, ctx, "MAX", bool(op.arg(5, "ceil_mode", False)))


@handles("avg_pool3d", lowering="Pooling AVE over H×W, then over D (as max_pool3d), + Scale for PyTorch's divisor")
def avg_pool3d(op, ctx):
    return _pool3d(op, ctx, "AVE", bool(op.arg(4, "ceil_mode", False)), bool(op.arg(5, "count_include_pad", True)),
                   op.arg(6, "divisor_override"))
