"""Sliding-window layers: Convolution, Deconvolution, Im2col, Pooling, SPP.

Sources (stock SSD Caffe): src/caffe/layers/base_conv_layer.cpp (LayerSetUp: kernel/stride/pad/dilation,
weights), conv_layer.cpp and deconv_layer.cpp (compute_output_shape), im2col_layer.cpp,
pooling_layer.cpp (LayerSetUp and Reshape), spp_layer.cpp (GetPoolingParam).
"""
from __future__ import annotations

import math

import numpy as np

from .. import caffe_pb2
from .rules import Out, Refusal, canonical, check, check_counts, legacy4, rule, same_shapes


def _per_axis(p, name: str, spatial: int, default: int | None) -> list[int]:
    """kernel_size / stride / pad / dilation per spatial axis (base_conv_layer.cpp: the _h/_w form only in
    2-D, one value for all axes, or one per axis)."""
    h, w = getattr(p, f"{name}_h", None), getattr(p, f"{name}_w", None)
    repeated = list(getattr(p, "kernel_size" if name == "kernel" else name))
    if name != "dilation" and (p.HasField(f"{name}_h") or p.HasField(f"{name}_w")):
        check(spatial == 2, f"{name}_h & {name}_w can only be used for 2D convolution")
        check(not repeated, f"either {name} or {name}_h/w should be specified; not both")
        return [h, w]
    if not repeated and default is not None:
        return [default] * spatial
    check(len(repeated) in (1, spatial) and (repeated or default is not None),
          f"{name} must be specified once, or once per spatial dimension ({len(repeated)} given, {spatial} axes)")
    return [repeated[0 if len(repeated) == 1 else i] for i in range(spatial)]


def _geometry(p, shape, least_spatial: int = 0):
    """(channel axis, kernel, stride, pad, dilation) of a ConvolutionParameter on a blob of ``shape``."""
    axis = canonical(shape, p.axis)
    spatial = len(shape) - axis - 1
    check(spatial >= least_spatial, f"no spatial axis after the channel axis {axis} of {list(shape)}")
    kernel = _per_axis(p, "kernel", spatial, None)
    check(all(k > 0 for k in kernel), "filter dimensions must be nonzero")
    stride = _per_axis(p, "stride", spatial, 1)
    check(all(s > 0 for s in stride), "stride dimensions must be nonzero")
    return axis, kernel, stride, _per_axis(p, "pad", spatial, 0), _per_axis(p, "dilation", spatial, 1)


def conv_extent(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    """Convolution's output length (conv_layer.cpp): C++ integer division, which truncates toward zero."""
    return int((size + 2 * pad - (dilation * (kernel - 1) + 1)) / stride) + 1


def deconv_extent(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    """Deconvolution's output length (deconv_layer.cpp): s·(H − 1) + d·(k − 1) + 1 − 2p."""
    return stride * (size - 1) + dilation * (kernel - 1) + 1 - 2 * pad


@rule("Convolution", "Deconvolution")
def convolution(p, bottoms):
    """Top (…, num_output, spatial…) per bottom; weights (out, in/group, kernel…) with in/out swapped for
    Deconvolution (reverse_dimensions), bias (num_output)."""
    c = p.convolution_param
    shape = bottoms[0]
    axis, kernel, stride, pad, dilation = _geometry(c, shape)
    channels, outputs = shape[axis], c.num_output
    check(outputs > 0, "num_output must be positive")
    check(channels % c.group == 0, f"{channels} input channels are not a multiple of group {c.group}")
    check(outputs % c.group == 0, f"num_output {outputs} is not a multiple of group {c.group}")
    same_shapes(bottoms)
    extent = deconv_extent if p.type == "Deconvolution" else conv_extent
    spatial = [extent(size, *window) for size, *window in zip(shape[axis + 1:], kernel, stride, pad, dilation)]
    top = tuple(shape[:axis]) + (outputs,) + tuple(spatial)
    into, out_of = (outputs, channels) if p.type == "Deconvolution" else (channels, outputs)
    learned = [(out_of, into // c.group) + tuple(kernel)] + ([(outputs,)] if c.bias_term else [])
    return Out([top] * len(bottoms), learned)


@rule("Im2col")
def im2col(p, bottoms):
    """(…, C·∏kernel, output extents…) as Convolution computes them (im2col_layer.cpp)."""
    shape = bottoms[0]
    axis, kernel, stride, pad, dilation = _geometry(p.convolution_param, shape, least_spatial=1)
    spatial = [conv_extent(size, *window) for size, *window in zip(shape[axis + 1:], kernel, stride, pad, dilation)]
    return [tuple(shape[:axis]) + (shape[axis] * int(np.prod(kernel)),) + tuple(spatial)]


def pooled_extent(size: int, kernel: int, stride: int, pad: int, padded: bool | None = None) -> int:
    """Pooling's output length along one axis (pooling_layer.cpp Reshape): ⌈(H + 2p − k) / s⌉ + 1 in float32,
    then one window less when the last one would start at or past H + p, but only if the layer has padding
    on either axis (``padded``, default: pad > 0 on this one): without any padding no window is dropped,
    even one starting at or past H (where PyTorch's ceil mode drops it)."""
    out = math.ceil(float(np.float32(size + 2 * pad - kernel) / np.float32(stride))) + 1
    if (pad > 0 if padded is None else padded) and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pooling_window(q, shape):
    """(kernel, stride, pad) per axis from a PoolingParameter (pooling_layer.cpp LayerSetUp's checks)."""
    if q.global_pooling:
        check(not (q.HasField("kernel_size") or q.HasField("kernel_h") or q.HasField("kernel_w")),
              "with global_pooling: true filter size cannot be specified")
        kernel = list(shape[2:4])
    else:
        check(q.HasField("kernel_size") != (q.HasField("kernel_h") and q.HasField("kernel_w")),
              "filter size is kernel_size OR kernel_h and kernel_w; not both")
        kernel = [q.kernel_size] * 2 if q.HasField("kernel_size") else [q.kernel_h, q.kernel_w]
    check(all(k > 0 for k in kernel), "filter dimensions cannot be zero")
    for name in ("pad", "stride"):
        both = q.HasField(f"{name}_h") and q.HasField(f"{name}_w")
        check((not q.HasField(name) and both) or not (q.HasField(f"{name}_h") or q.HasField(f"{name}_w")),
              f"{name} is {name} OR {name}_h and {name}_w are required")
    pad = [q.pad_h, q.pad_w] if q.HasField("pad_h") else [q.pad] * 2
    stride = [q.stride_h, q.stride_w] if q.HasField("stride_h") else [q.stride] * 2
    if q.global_pooling:
        check(pad == [0, 0] and stride == [1, 1], "with global_pooling: true only pad = 0 and stride = 1")
    if any(pad):
        check(q.pool in (q.AVE, q.MAX), "padding implemented only for average and max pooling")
        check(all(p < k for p, k in zip(pad, kernel)), f"pad {pad} must be below the kernel {kernel}")
    return kernel, stride, pad


def pooled_shape(q, shape) -> tuple:
    """The Pooling top of a 4-D ``shape`` (pooling_layer.cpp Reshape)."""
    check(len(shape) == 4, f"input must have 4 axes (num, channels, height, width), got {list(shape)}")
    kernel, stride, pad = _pooling_window(q, shape)
    out = [pooled_extent(size, k, s, p, any(pad)) for size, k, s, p in zip(shape[2:], kernel, stride, pad)]
    if any(pad):
        check(all((o - 1) * s < size + p for o, s, size, p in zip(out, stride, shape[2:], pad)),
              "the last pooling window starts past the padding")
    return tuple(shape[:2]) + tuple(out)


@rule("Pooling")
def pooling(p, bottoms):
    """Top (N, C, pooled H, pooled W); a second top (MAX only) holds the argmax mask, the same shape."""
    q = p.pooling_param
    check_counts("Pooling", len(bottoms), len(p.top), max_tops=2 if q.pool == q.MAX else 1)
    return [pooled_shape(q, bottoms[0])] * len(p.top)


@rule("SPP")
def spp(p, bottoms):
    """One Pooling per pyramid level l (2^l bins: kernel ⌈H / bins⌉, pad ⌊(k·bins − H + 1) / 2⌋, stride k),
    each flattened and concatenated along axis 1; a pyramid of height 1 is that Pooling itself."""
    shape = bottoms[0]
    check(len(shape) == 4, f"input must have 4 axes (num, channels, height, width), got {list(shape)}")
    num, channels, height, width = legacy4(shape)
    check(height > 0 and width > 0, "input dimensions cannot be zero")
    tops = []
    for level in range(p.spp_param.pyramid_height):
        bins = 2 ** level
        kernel = [math.ceil(size / bins) for size in (height, width)]
        pad = [(k * bins - size + 1) // 2 for k, size in zip(kernel, (height, width))]
        q = caffe_pb2.PoolingParameter(kernel_h=kernel[0], kernel_w=kernel[1], stride_h=kernel[0],
                                       stride_w=kernel[1], pad_h=pad[0], pad_w=pad[1], pool=p.spp_param.pool)
        tops.append(pooled_shape(q, shape))
    if len(tops) == 1:
        return tops
    if not tops:
        raise Refusal("pyramid_height must be at least 1")
    return [(num, sum(t[1] * t[2] * t[3] for t in tops))]
