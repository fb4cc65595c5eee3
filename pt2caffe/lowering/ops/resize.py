"""Resizing: F.interpolate / nn.Upsample / F.upsample* (traced as "interpolate"), pixel (un)shuffle.

Every mode PyTorch has (nearest, nearest-exact, (bi/tri)linear, bicubic, area, antialias) is linear
and separable: per channel, y = M_H · x · M_Wᵀ with one matrix (out × in) per spatial axis. The
matrices are PyTorch's own, read off by resizing a one-hot probe (the identity along one axis,
constant along the others, which have size 2 and keep it, so PyTorch copies them; with size 1
the antialiased kernel computes other weights) with the op's exact arguments. So the source
coordinates, the float32 rounding of the nearest index, align_corners, scale_factor versus size and
recompute_scale_factor are whatever PyTorch does, not a re-derivation of it. The matrices are applied
by ``compose.apply_axis_matrices`` (per axis a 1×1 Convolution between Reshapes; small maps: one with
kron(M_H, M_W)).

Nearest with integer factors on a 4-D blob (each matrix repeats every row f times) is a depthwise
Deconvolution with kernel = stride = f and weights 1 instead: a plain copy, cheaper than matrices.
The fork's Upsample layer is not used: the Deconvolution is as exact, stock, and OpenCV runs it.

Bilinear ×2 with half-pixel centres (align_corners=False: UNet, FPN and segmentation decoders) on a
4-D blob has a form whose layers do not depend on the size, so the export stays valid at other sizes
(the matrices are H×2H and W×2W): see _bilinear_double.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..compose import apply_axis_matrices, as_image, permute, reshape, window
from ..choice import Form
from ..registry import handles


def _only_on(values, spatial: int, index: int, neutral):
    """The per-axis ``size``/``scale_factor`` argument with every axis but ``index`` left unchanged."""
    per_axis = list(values) if isinstance(values, (list, tuple)) else [values] * spatial
    return tuple(value if i == index else neutral for i, value in enumerate(per_axis))


def resize_matrix(op, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """PyTorch's resizing matrix (out × in) along ``axis`` for this interpolate call."""
    spatial, length = len(shape) - 2, shape[axis]
    ones_shape = [length if i == axis - 2 else 1 for i in range(spatial)]
    probe_shape = [length if i == axis - 2 else 2 for i in range(spatial)]
    probe = torch.eye(length).reshape(length, 1, *ones_shape).expand(length, 1, *probe_shape).contiguous()
    kwargs = {"mode": op.arg(3, "mode", "nearest"), "align_corners": op.arg(4, "align_corners"),
              "recompute_scale_factor": op.arg(5, "recompute_scale_factor"),
              "antialias": op.arg(6, "antialias", False)}
    size = op.arg(1, "size")
    if size is not None:
        kwargs["size"] = _only_on(size, spatial, axis - 2, 2)
    else:
        kwargs["scale_factor"] = _only_on(op.arg(2, "scale_factor"), spatial, axis - 2, 1.0)
    resized = F.interpolate(probe, **kwargs)
    along_axis = tuple(slice(None) if i == axis - 2 else 0 for i in range(spatial))
    return resized[(slice(None), 0) + along_axis].T.to(torch.float64).numpy()


def _repeat_factor(matrix: np.ndarray) -> int | None:
    """f when ``matrix`` repeats every input row f times (nearest with an integer factor), else None."""
    rows, cols = matrix.shape
    if rows % cols or not np.array_equal(matrix, np.repeat(np.eye(cols), rows // cols, axis=0)):
        return None
    return rows // cols


def _repeat_pixels(ctx, x, factors: tuple[int, int]):
    return ctx.choose(Form("Deconvolution of ones", lambda ctx: _copy_pixels(ctx, x, factors)),
                      Form("4-D view, Deconvolution of ones", lambda ctx: _copy_pixels(ctx, as_image(ctx, x), factors)))


def _copy_pixels(ctx, x, factors: tuple[int, int]):
    channels = x.shape[1]
    params = {"num_output": channels, "group": channels, "bias_term": False,
              **window(factors, factors, repeated=True)}
    ones = ctx.constant(np.ones((channels, 1) + factors), "nearest upsampling: each pixel copied to its block")
    return ctx.layer("Deconvolution", [x], {"convolution_param": params}, weights=[ones])


def bilinear_double_matrix(size: int) -> np.ndarray:
    """The (2·size × size) matrix of bilinear ×2 with half-pixel centres: output j reads source
    (j + ½)/2 − ½, clamped at 0, between its two neighbours (the second clamped at size − 1). PyTorch's
    upsample_bilinear2d with align_corners=False (aten/src/ATen/native/UpSample.h,
    area_pixel_compute_source_index); entries are 1, ¾ and ¼, so the comparison with resize_matrix is exact."""
    matrix = np.zeros((2 * size, size))
    for out in range(2 * size):
        source = max((out + 0.5) / 2 - 0.5, 0.0)
        low = min(int(source), size - 1)
        matrix[out, low] += 1 - (source - low)
        matrix[out, min(low + 1, size - 1)] += source - low
    return matrix


def _is_bilinear_double(matrix: np.ndarray) -> bool:
    rows, cols = matrix.shape
    return rows == 2 * cols and np.array_equal(matrix, bilinear_double_matrix(cols))


def _bilinear_double(ctx, x):
    """Bilinear ×2 of (N, C, H, W) from layers that hold no size: u, every pixel repeated to its 2×2 block
    and scaled by ¼ (depthwise Deconvolution); then along H and along W in turn (_double_edges) the sum of
    neighbour means, which is the ¼/¾ mixture of bilinear ×2 and, at the borders, the clamped source."""
    n, c, h, w = x.shape
    params = {"num_output": c, "group": c, "bias_term": False, **window(2, 2, repeated=True)}
    quarter = ctx.constant(np.full((c, 1, 2, 2), 0.25), "bilinear ×2: each pixel repeated to its 2×2 block, × ¼")
    repeated = ctx.layer("Deconvolution", [x], {"convolution_param": params}, weights=[quarter], role="repeat",
                         shape=(n, c, 2 * h, 2 * w))
    return _double_edges(ctx, _double_edges(ctx, repeated, 2, role="rows"), 3, role=None)


def _double_edges(ctx, u, axis: int, role):
    """Along ``axis``: v = mean of neighbours (AVE Pooling, window 2, no pad: one fewer), then per output
    position the max plus the min of v's two neighbours (MAX Poolings of v and −v, window 2, pad 1).

    Inside, max + min of two values is their sum: 2·(¼·u[j−1] + ½·u[j] + ¼·u[j+1]), which on a
    pixel-repeated u is the ¾/¼ bilinear mixture; at either end only one neighbour exists, Caffe's MAX
    Pooling ignores the padding (pooling_layer.cpp), so it gives 2·v at the end: the source clamped, as
    PyTorch does. The factor 2 per axis cancels the ¼ of the repeat. The min as −max(−v): MNN's forward fails
    on an Eltwise coefficient of ½ (so no halving there) and it has no MIN pooling.
    """
    tag = role or "cols"
    kernel, pad = ((2, 1), (1, 0)) if axis == 2 else ((1, 2), (0, 1))
    shorter = tuple(d - 1 if i == axis else d for i, d in enumerate(u.shape))

    def pooling(bottom, pool, pads, name, shape):
        fields = {"pool": pool, **window(kernel, (1, 1), pads, repeated=False)}
        return ctx.layer("Pooling", [bottom], {"pooling_param": fields}, role=f"{tag}/{name}", shape=shape)

    mean = pooling(u, "AVE", (0, 0), "mean", shorter)
    high = pooling(mean, "MAX", pad, "max", u.shape)
    negated = ctx.layer("Power", [mean], {"power_param": {"scale": -1.0}}, role=f"{tag}/negated", shape=shorter)
    low = pooling(negated, "MAX", pad, "negated_max", u.shape)
    return ctx.layer("Eltwise", [high, low], {"eltwise_param": {"operation": "SUM", "coeff": [1.0, -1.0]}},
                     role=role, shape=u.shape)


@handles("interpolate", lowering="nearest ×integer: depthwise Deconvolution (weights 1); bilinear ×2 "
                                 "(align_corners=False): Deconvolution + per axis AVE Pooling, MAX Poolings of ±, "
                                 "Eltwise (valid at any size); otherwise PyTorch's per-axis resizing matrices: "
                                 "Reshape + 1×1 Convolution + Reshape per axis (or one for both)")
def interpolate(op, ctx):
    x = op.arg(0, "input")
    matrices = {axis: resize_matrix(op, x.shape, axis) for axis in range(2, len(x.shape))}
    factors = tuple(_repeat_factor(m) for m in matrices.values())
    if len(x.shape) == 4 and None not in factors:
        return ctx.blob(x) if factors == (1, 1) else _repeat_pixels(ctx, ctx.blob(x), factors)
    if len(x.shape) == 4 and all(_is_bilinear_double(m) for m in matrices.values()):
        return _bilinear_double(ctx, ctx.blob(x))
    return apply_axis_matrices(ctx, ctx.blob(x), matrices, f"{op.arg(3, 'mode', 'nearest')} resizing matrix")


def _regroup(op, ctx, split_dims: tuple[int, ...], order: tuple[int, ...]):
    """Reshape the last three axes to ``split_dims``, permute those by ``order``, reshape to the output."""
    x = op.arg(0, "input")
    lead = len(x.shape) - 3
    split = reshape(ctx, ctx.blob(x), x.shape[:lead] + split_dims, role="split")
    moved = permute(ctx, split, list(range(lead)) + [lead + i for i in order], role="interleave")
    return reshape(ctx, moved, ctx.out_shape)


@handles("pixel_shuffle", lowering="the cheaper of a 6-D view + Permute + Reshape and a Deconvolution "
         "(group C, kernel = stride = r, one-hot weights) that the target allows (the view alone above 4-D)")
def pixel_shuffle(op, ctx):
    factor = int(op.arg(1, "upscale_factor"))
    channels, height, width = op.arg(0, "input").shape[-3:]
    view = Form("6-D view", lambda ctx: _regroup(op, ctx, (channels // factor ** 2, factor, factor, height, width),
                                                 (0, 3, 1, 4, 2)))
    if len(op.arg(0, "input").shape) != 4:
        return ctx.choose(view)
    return ctx.choose(Form("one-hot Deconvolution", lambda ctx: _one_hot(op, ctx, factor, "Deconvolution")), view)


@handles("pixel_unshuffle", lowering="the cheaper of a 6-D view + Permute + Reshape and a Convolution "
         "(group C, kernel = stride = r, one-hot weights) that the target allows (the view alone above 4-D)")
def pixel_unshuffle(op, ctx):
    factor = int(op.arg(1, "downscale_factor"))
    channels, height, width = op.arg(0, "input").shape[-3:]
    view = Form("6-D view", lambda ctx: _regroup(op, ctx, (channels, height // factor, factor, width // factor, factor),
                                                 (0, 2, 4, 1, 3)))
    if len(op.arg(0, "input").shape) != 4:
        return ctx.choose(view)
    return ctx.choose(Form("one-hot Convolution", lambda ctx: _one_hot(op, ctx, factor, "Convolution")), view)


def _one_hot(op, ctx, factor: int, layer_type: str):
    """pixel_shuffle as a Deconvolution, pixel_unshuffle as a Convolution, each with group C (the channels
    of the smaller map) and kernel = stride = r: channel c·r² + i·r + j holds pixel (i, j) of each r×r
    block of channel c, so the weight (c·r² + i·r + j, 0, i, j) is 1 and every value is copied once."""
    x = op.arg(0, "input")
    groups = x.shape[1] // factor ** 2 if layer_type == "Deconvolution" else x.shape[1]
    kernel = np.zeros((groups * factor ** 2, 1, factor, factor))
    group, row, col = np.meshgrid(np.arange(groups), np.arange(factor), np.arange(factor), indexing="ij")
    kernel[(group * factor + row) * factor + col, 0, row, col] = 1
    params = {"num_output": op.outputs[0].shape[1], "group": groups, "bias_term": False,
              **window(factor, factor, repeated=True)}
    return ctx.layer(layer_type, [ctx.blob(x)], {"convolution_param": params},
                     weights=[ctx.constant(kernel, f"{op.kind}: each channel's pixels placed one-hot")])
