"""Padding: F.pad / nn.ZeroPad2d, ConstantPad*, ReflectionPad*, ReplicationPad*, CircularPad* /
torch.constant_pad_nd, negative pads (cropping) included.

Zero padding of the spatial axes of a 4-D blob: one depthwise Convolution whose one-hot kernel
copies each pixel to its padded place (symmetric Caffe pad, kernel |before − after| + 1 long, so
1×1 for symmetric pads; negative pads crop). Every other case (reflect, replicate, circular,
another constant, other axes or ranks): one 0/1 selection matrix per padded axis, row i picking
the source index PyTorch reads for output i, applied by ``compose.apply_axis_matrices``; a row
that reads nothing (constant padding) gets the constant as the layer's bias, so the value lands
exactly on the border (x·1 + 0 inside, 0 + value outside). All of it is exact.
"""
from __future__ import annotations

import numpy as np

from ..compose import apply_axis_matrices, window
from ..registry import handles


def source_indices(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """The input index each output position reads along one axis; −1 where a constant goes."""
    wanted = np.arange(-before, size + after)
    if mode == "constant":
        return np.where((wanted >= 0) & (wanted < size), wanted, -1)
    if mode == "replicate":
        return np.clip(wanted, 0, size - 1)
    if mode == "reflect":
        return (size - 1) - np.abs((size - 1) - np.abs(wanted))
    if mode == "circular":
        return wanted % size
    raise ValueError(f"unknown padding mode {mode!r}")


def _selection(sources: np.ndarray, size: int) -> np.ndarray:
    matrix = np.zeros((len(sources), size))
    rows = np.flatnonzero(sources >= 0)
    matrix[rows, sources[rows]] = 1.0
    return matrix


def _pad_spatial_with_zeros(ctx, x, axis_pads: dict[int, tuple[int, int]]):
    """Depthwise Convolution, symmetric pad p = max(0, before, after) and a one-hot kernel.

    Along an axis, kernel length K = (p − before) + (p − after) + 1 with its 1 at p − before gives
    out[o] = x[o − before]: any pads, negative ones too, in one layer (K MACs per pixel, K = 1 when
    the pads are symmetric).
    """
    grown = {axis: max(0, *axis_pads.get(axis, (0, 0))) for axis in (2, 3)}
    kernel, hot = {}, {}
    for axis in (2, 3):
        before, after = axis_pads.get(axis, (0, 0))
        kernel[axis] = 2 * grown[axis] - before - after + 1
        hot[axis] = grown[axis] - before
    channels = x.shape[1]
    weights = np.zeros((channels, 1, kernel[2], kernel[3]))
    weights[:, :, hot[2], hot[3]] = 1.0
    params = {"num_output": channels, "group": channels, "bias_term": False,
              **window((kernel[2], kernel[3]), pad=(grown[2], grown[3]), repeated=True)}
    return ctx.layer("Convolution", [x], {"convolution_param": params}, shape=ctx.out_shape,
                     weights=[ctx.constant(weights, "padding: one-hot kernel copying each pixel")])


@handles("pad", "constant_pad_nd",
         lowering="zeros on H/W: depthwise Convolution, one-hot kernel; otherwise 0/1 selection "
                  "matrices as 1×1 Convolutions between Reshapes (a constant ≠ 0 is their bias)")
def pad(op, ctx):
    x = op.arg(0, "input")
    pads = [int(p) for p in op.arg(1, "pad")]
    mode = op.arg(2, "mode", "constant") if op.kind == "pad" else "constant"
    value = op.arg(3, "value") if op.kind == "pad" else op.arg(2, "value")
    value = float(value or 0.0)
    rank = len(x.shape)
    axis_pads = {rank - 1 - k: (pads[2 * k], pads[2 * k + 1]) for k in range(len(pads) // 2)
                 if (pads[2 * k], pads[2 * k + 1]) != (0, 0)}
    if not axis_pads:
        return ctx.blob(x)
    if mode == "constant" and value == 0.0 and rank == 4 and set(axis_pads) <= {2, 3}:
        return _pad_spatial_with_zeros(ctx, ctx.blob(x), axis_pads)
    matrices = {axis: _selection(source_indices(x.shape[axis], before, after, mode), x.shape[axis])
                for axis, (before, after) in axis_pads.items()}
    return apply_axis_matrices(ctx, ctx.blob(x), matrices, f"{mode} padding selection", fill=value)
