"""F.grid_sample (spatial transformers, TPS rectification, optical-flow warps) as an exact composition.

Bilinear sampling is a weighted sum over the input: out[n, c, o] = Σ_i Σ_j x[n, c, i, j]·a(iy_o − i)·a(ix_o − j)
with the tent a(t) = max(0, 1 − |t|), where ix, iy are the grid's points in pixels — PyTorch's
grid_sampler_compute_source_index (ATen/native/GridSampler.h): ((g + 1)/2)·(W − 1) with align_corners,
((g + 1)·W − 1)/2 without, clipped to [0, W − 1] for padding_mode "border". Zero padding needs nothing more:
the sum only runs over the input, and a point off it gets its in-plane neighbours' weights only, as PyTorch.
(The tent's weights are PyTorch's (x_se − x)(y_se − y)… formed another way: a few ulps apart.)

Layers: the grid's x and y as (N, O, 1) (O = output points), Power for the pixel coordinates (and the clamp),
the tents (N, O, W) and (N, O, H) by copies (1×1 Convolution), Scale (−k), AbsVal, Power, ReLU; the sum over j
as a batched product of x viewed (N, C·H, W) with the x-tents (ops/products.py), then the y-tents repeated
over C, Eltwise PROD and a 1×1 Convolution of ones summing over i. Cost: the product's 3·N·C·H·W·O floats of
blobs, O(outputs × inputs) as the sum itself. Nearest and bicubic modes (rounding), reflection padding
(unbounded folds) and 5-D inputs are refused.
"""
from __future__ import annotations

import numpy as np

from ..compose import (ELTWISE_PROD, absolute, add_constant, broadcast_to, clamp, copy_blocks, eltwise, permute,
                       power, relu, reshape, reshape_any_batch, slice_parts)
from ..registry import handles
from .products import batched_product


def _pixels(ctx, coordinate, size: int, align: bool, border: bool, role: str):
    """The grid coordinate in pixels (PyTorch's unnormalisation), clipped to [0, size − 1] for border padding."""
    scale = (size - 1) / 2 if align else size / 2
    pixels = power(ctx, coordinate, scale=scale, shift=(size - 1) / 2, role=f"{role}/pixels")
    return clamp(ctx, pixels, 0.0, float(size - 1), role=f"{role}/border") if border else pixels


def _tent(ctx, pixels, size: int, role: str):
    """(N, O, size): max(0, 1 − |pixels − k|) for k = 0 … size − 1, from pixels (N, O, 1)."""
    wide = copy_blocks(ctx, pixels, 2, size, pixels.shape[:2] + (size,), role=f"{role}/copies")
    offset = add_constant(ctx, wide, ctx.constant(-np.arange(size, dtype=np.float64), "−k"), 2, 1,
                          role=f"{role}/offset")
    distance = absolute(ctx, offset, role=f"{role}/distance")
    return relu(ctx, power(ctx, distance, scale=-1.0, shift=1.0, role=f"{role}/one_minus"), role=role)


@handles("grid_sample", lowering="bilinear, zeros or border padding: tents max(0, 1 − |coordinate − k|) per axis, "
                                 "a batched product over W, Eltwise PROD and a 1×1 Convolution over H; "
                                 "O(outputs × inputs); nearest, bicubic, reflection refused")
def grid_sample(op, ctx):
    x, grid = op.arg(0, "input"), op.arg(1, "grid")
    mode, padding = op.arg(2, "mode", "bilinear"), op.arg(3, "padding_mode", "zeros")
    if mode != "bilinear" or padding not in ("zeros", "border") or len(x.shape) != 4:
        raise ctx.fail(f"grid_sample with mode {mode!r}, padding_mode {padding!r} on a {len(x.shape)}-D input: only "
                       "bilinear sampling of 4-D inputs with zeros or border padding is exact in Caffe")
    batch, channels, height, width = x.shape
    outputs = grid.shape[1] * grid.shape[2]
    points = reshape(ctx, ctx.blob(grid), (batch, outputs, 2), role="grid/points")
    along = {}
    for coordinate, size, name in zip(slice_parts(ctx, points, 2, [1, 1], role="grid/xy"), (width, height), "xy"):
        pixels = _pixels(ctx, coordinate, size, bool(op.arg(4, "align_corners")), padding == "border", name)
        along[name] = _tent(ctx, pixels, size, f"{name}/tent")
    rows = reshape(ctx, ctx.blob(x), (batch, channels * height, width), role="input/rows")
    mixed = batched_product(ctx, rows, along["x"], a_k_last=True, b_k_last=True, role="along_x")  # (N, C·H, O)
    mixed = reshape(ctx, mixed, (batch, channels, height, outputs), role="along_x/planes")
    y_weights = reshape(ctx, permute(ctx, along["y"], [0, 2, 1], role="y/by_row"), (batch, 1, height, outputs),
                        role="y/one_channel")
    terms = eltwise(ctx, [mixed, broadcast_to(ctx, y_weights, mixed.shape, role="y/channels")], ELTWISE_PROD,
                    role="terms")
    columns = reshape_any_batch(ctx, terms, (height, outputs, 1), role="terms/by_row")
    summed = ctx.layer("Convolution", [columns], {"convolution_param": {"num_output": 1, "bias_term": False,
                                                                           "kernel_size": [1]}},
                       role="sum_over_rows", shape=(batch * channels, 1, outputs, 1),
                       weights=[ctx.constant(np.ones((1, height, 1, 1)), "sums over the rows")])
    return reshape_any_batch(ctx, summed, ctx.out_shape[1:])
