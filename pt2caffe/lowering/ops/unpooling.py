"""MaxUnpool2d with the indices of a MaxPool2d (SegNet, ENet decoders), exactly, with stock layers.

Caffe's MAX Pooling gives, as a second top, the argmax of each window as the flat index h·W + w
in its input plane (pooling_layer.cpp: ``mask[pool_index] = index``, first maximum on ties, as
PyTorch's CPU kernel): the same numbers as PyTorch's indices. For non-overlapping windows (kernel
= stride, no padding, as SegNet/ENet use), each output position belongs to exactly one window, so

    unpool(v, m)[y, x] = v[i, j] · [m[i, j] = y·W + x],   (i, j) the window holding (y, x).

Layers: the values and the mask repeated over their s_h×s_w cells by a depthwise Deconvolution
(weights 1; extra zero taps give the rows/columns beyond the last window an output_size may add);
the position map y·W + x from a batch seed (Power scale 0 shift 1 → Deconvolution with the map as
kernel → 1×1 Convolution of ones over the channels); [m = p] = ReLU(1 − |m − p|), exact on
integers; Eltwise PROD. Other cases (overlapping windows, padding, indices not from a MaxPool2d, an
output width other than the pooled input's) are refused: there a window's index can land outside
its cell, which this construction cannot place.
"""
from __future__ import annotations

import numpy as np

from ..choice import Form
from ..compose import ELTWISE_PROD, ELTWISE_SUM, absolute, as_image, batch_seed, eltwise, pair, power, relu
from ..registry import handles


def _cells(ctx, x, stride: tuple[int, int], out: tuple[int, int], role: str):
    """Each element of ``x`` (N, C, H', W') repeated over its stride cell, zero-filled up to ``out``."""
    extra = (out[0] - x.shape[2] * stride[0], out[1] - x.shape[3] * stride[1])
    kernel = (stride[0] + extra[0], stride[1] + extra[1])
    channels = x.shape[1]
    weights = np.zeros((channels, 1) + kernel)
    weights[:, :, :stride[0], :stride[1]] = 1.0
    params = {"num_output": channels, "group": channels, "bias_term": False, "kernel_h": kernel[0],
              "kernel_w": kernel[1], "stride_h": stride[0], "stride_w": stride[1]}
    return ctx.layer("Deconvolution", [x], {"convolution_param": params}, role=role, shape=x.shape[:2] + tuple(out),
                     weights=[ctx.constant(weights, "ones over each unpooling cell")])


def _positions(ctx, reference, channels: int, out: tuple[int, int]):
    """(N, channels, H, W) holding y·W + x at (y, x), built from ``reference``'s batch."""
    ones = power(ctx, batch_seed(ctx, reference), scale=0.0, shift=1.0, role="positions/one")
    plane = np.arange(out[0] * out[1], dtype=np.float64).reshape((1, 1) + out)
    params = {"num_output": 1, "bias_term": False, "kernel_h": out[0], "kernel_w": out[1]}

    def index_plane(ctx, seed):
        return ctx.layer("Deconvolution", [seed], {"convolution_param": params}, role="positions/plane",
                         shape=(ones.shape[0], 1) + tuple(out), weights=[ctx.constant(plane, "flat index y·W + x")])
    mapped = ctx.choose(Form("Deconvolution", lambda ctx: index_plane(ctx, ones)),  # ncnn: the seed as an image first
                        Form("4-D view, Deconvolution",
                             lambda ctx: index_plane(ctx, as_image(ctx, ones, role="positions"))))
    params = {"num_output": channels, "bias_term": False, "kernel_size": [1]}
    return ctx.layer("Convolution", [mapped], {"convolution_param": params}, role="positions",
                     shape=(ones.shape[0], channels) + tuple(out),
                     weights=[ctx.constant(np.ones((channels, 1, 1, 1)), "copy to every channel")])


def _check_pooling(ctx, indices, kernel, stride, pad, out):
    pool = indices.producer
    if pool is None or pool.kind != "max_pool2d" or indices is not pool.outputs[-1]:
        raise ctx.fail("the indices do not come from a MaxPool2d in the model; only those can be unpooled")
    pool_kernel = pair(pool.arg(1, "kernel_size"))
    pool_stride = pair(pool.arg(2, "stride") or pool_kernel)
    pool_pad, dilation = pair(pool.arg(3, "padding", 0)), pair(pool.arg(4, "dilation", 1))
    if not (kernel == stride == pool_kernel == pool_stride) or pad != (0, 0) or pool_pad != (0, 0) \
            or dilation != (1, 1):
        raise ctx.fail("only unpooling of non-overlapping windows (kernel = stride, no padding, in the MaxPool2d "
                       "and here) is exact; with overlapping windows an index can land outside its cell")
    width = pool.arg(0, "input").shape[3]
    if out[1] != width:
        raise ctx.fail(f"the output width {out[1]} differs from the pooled input's width {width}: PyTorch would "
                       "reinterpret the flat indices in another row length")


@handles("max_unpool2d", lowering="indices of a MaxPool2d with kernel = stride, no padding: MAX Pooling's mask top, "
                                  "depthwise Deconvolution (ones) of values and mask, ReLU(1 − abs(mask − position)), "
                                  "Eltwise PROD; overlapping windows refused",
         portable="pycaffe, OpenCV; MNN: empty output (its Caffe converter drops Pooling's mask top)")
def max_unpool2d(op, ctx):
    x, indices = op.arg(0, "input"), op.arg(1, "indices")
    kernel = pair(op.arg(2, "kernel_size"))
    stride = pair(op.arg(3, "stride") or kernel)
    out = tuple(ctx.out_shape[2:])
    _check_pooling(ctx, indices, kernel, stride, pair(op.arg(4, "padding", 0)), out)
    values, mask = _cells(ctx, ctx.blob(x), stride, out, "values"), _cells(ctx, ctx.blob(indices), stride, out, "mask")
    positions = _positions(ctx, mask, mask.shape[1], out)
    distance = absolute(ctx, eltwise(ctx, [mask, positions], ELTWISE_SUM, coeffs=[1, -1], role="offset"),
                        role="distance")
    chosen = relu(ctx, power(ctx, distance, scale=-1.0, shift=1.0, role="one_minus_distance"), role="chosen")
    return eltwise(ctx, [values, chosen], ELTWISE_PROD)


@handles("max_unpool1d", "max_unpool3d", lowering="refused: only MaxUnpool2d is lowered", exact=False,
         portable="— (refused)")
def max_unpool_other(op, ctx):
    raise ctx.fail("MaxUnpool1d/3d are not supported; only MaxUnpool2d with the indices of a MaxPool2d of "
                   "non-overlapping windows is exported")
