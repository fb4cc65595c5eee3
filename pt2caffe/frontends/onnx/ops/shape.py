"""Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Split, Slice, Gather, GatherND, Expand, Tile, Pad,
DepthToSpace, SpaceToDepth, Shape, Size, Identity, Dropout (ONNX Operators.md). Attributes that became inputs:
Slice's starts/ends/axes/steps (10), Squeeze/Unsqueeze axes and Split sizes (13; Split num_outputs 18), Pad's
pads and value (11; axes 18). Reshape's 0 copies the input dim unless allowzero (14); Slice clamps starts
and ends; Shape's start/end (15); DepthToSpace DCR (default) or CRD order. Shape-like inputs must be
constants at the traced size (pt2caffe.frontends.onnx.registry.NodeContext.const)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import converts
from .axis_maps import select

@converts("Reshape")
def reshape(ctx, x, shape):
    dims = ctx.const([x, shape], 1, "shape")
    allow_zero = ctx.opset >= 14 and ctx.attr("allowzero", 0)
    dims = [x.shape[i] if d == 0 and not allow_zero else d for i, d in enumerate(dims)]
    return x.reshape(dims)


@converts("Flatten")
def flatten(ctx, x):
    axis = ctx.attr("axis", 1)
    axis = axis + x.dim() if axis < 0 else axis  # in [−rank, rank]
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@converts("Transpose")
def transpose(ctx, x):
    perm = ctx.attr("perm", list(reversed(range(x.dim()))))
    return x.permute(perm)


def _axes_argument(ctx, inputs, version: int = 13):
    if ctx.opset >= version:
        return ctx.const(inputs, 1, "axes")
    return ctx.attr("axes")


@converts("Squeeze")
def squeeze(ctx, x, axes=None):
    axes = _axes_argument(ctx, [x, axes])
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    shape = [d for i, d in enumerate(x.shape) if i not in {a % x.dim() for a in axes}]
    return x.reshape(shape)


@converts("Unsqueeze")
def unsqueeze(ctx, x, axes=None):
    axes = _axes_argument(ctx, [x, axes])
    rank = x.dim() + len(axes)
    shape, dims = [], iter(x.shape)
    inserted = {a % rank for a in axes}
    for i in range(rank):
        shape.append(1 if i in inserted else next(dims))
    return x.reshape(shape)


@converts("Concat")
def concat(ctx, *xs):
    return torch.cat(list(xs), ctx.attr("axis"))


@converts("Split")
def split(ctx, x, sizes=None):
    axis = ctx.attr("axis", 0) % x.dim()
    if ctx.opset >= 13:
        sizes = ctx.const([x, sizes], 1, "split")
    else:
        sizes = ctx.attr("split")
    count = len(ctx.node.output)
    if not sizes:
        parts = ctx.attr("num_outputs", count)
        length = x.shape[axis]
        chunk = -(-length // parts)
        sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
    return tuple(torch.split(x, list(sizes), axis))


def _clamp(value: int, length: int, step: int) -> int:
    """A start or end clamped as ONNX Slice clamps it: to [0, length] for positive steps, [−1, length − 1]
    for negative ones, after adding length to a negative value."""
    if value < 0:
        value += length
    if step > 0:
        return max(0, min(length, value))
    return max(-1, min(length - 1, value))


@converts("Slice")
def slice_(ctx, x, starts=None, ends=None, axes=None, steps=None):
    inputs = [x, starts, ends, axes, steps]
    if ctx.opset >= 10:
        starts, ends = ctx.const(inputs, 1, "starts"), ctx.const(inputs, 2, "ends")
        axes, steps = ctx.const(inputs, 3, "axes"), ctx.const(inputs, 4, "steps")
    else:
        starts, ends, axes, steps = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes"), None
    axes = list(range(len(starts))) if axes is None else [a % x.dim() for a in axes]
    steps = steps or [1] * len(starts)
    index, reversed_axes = [slice(None)] * x.dim(), {}
    for axis, start, end, step in zip(axes, starts, ends, steps):
        length = x.shape[axis]
        start, end = _clamp(start, length, step), _clamp(end, length, step)
        if step > 0:
            index[axis] = slice(start, max(start, end), step)
        else:  # a negative step: the elements start, start + step, … (> end), selected in that order
            reversed_axes[axis] = list(range(start, end, step))
    y = x[tuple(index)]
    for axis, picked in reversed_axes.items():
        if not picked:
            raise ctx.fail(f"an empty slice along axis {axis}")
        y = select(y, axis, picked)
    return y


@converts("Gather")
def gather(ctx, x, indices):
    axis = ctx.attr("axis", 0) % x.dim()
    if ctx.static[0]:
        return torch.index_select(x, axis, indices.reshape(-1).long() % x.shape[axis]).reshape(
            x.shape[:axis] + indices.shape + x.shape[axis + 1:])
    index = torch.as_tensor(ctx.const([x, indices], 1, "indices"))
    flat = [int(i) % x.shape[axis] for i in index.reshape(-1).tolist()]
    if index.dim() == 0:
        return x[(slice(None),) * axis + (flat[0],)]
    return select(x, axis, flat).reshape(x.shape[:axis] + tuple(index.shape) + x.shape[axis + 1:])


@converts("GatherND")
def gather_nd(ctx, x, indices):
    """Constant indices (…, k) pick cells of x's first k axes: those axes flattened into one, the flat
    indices (row-major) gathered as by Gather, reshaped to indices.shape[:-1] + x.shape[k:] (torch.export
    writes adaptive pooling this way)."""
    if ctx.attr("batch_dims", 0):
        raise ctx.fail("batch_dims other than 0 is not supported")
    index = np.asarray(ctx.const([x, indices], 1, "indices"), dtype=np.int64)
    k = index.shape[-1]
    lead = tuple(x.shape[:k])
    flat = np.ravel_multi_index(tuple(np.moveaxis(index % np.array(lead), -1, 0)), lead).reshape(-1)
    picked = select(x.reshape((math.prod(lead),) + tuple(x.shape[k:])), 0, flat.tolist())
    return picked.reshape(index.shape[:-1] + tuple(x.shape[k:]))


@converts("Expand")
def expand(ctx, x, shape):
    dims = ctx.const([x, shape], 1, "shape")
    target = torch.broadcast_shapes(tuple(x.shape), tuple(dims))
    return x.expand(target) if tuple(target) != tuple(x.shape) else x


@converts("Tile")
def tile(ctx, x, repeats):
    return x.repeat(ctx.const([x, repeats], 1, "repeats"))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@converts("Pad")
def pad(ctx, x, pads=None, value=None, axes=None):
    inputs = [x, pads, value, axes]
    if ctx.opset >= 11:
        pads = ctx.const(inputs, 1, "pads")
        value = ctx.const(inputs, 2, "constant_value") or 0.0
        axes = ctx.const(inputs, 3, "axes")
    else:
        pads, value, axes = ctx.attr("pads"), ctx.attr("value", 0.0), None
    if isinstance(value, list):
        value = value[0] if value else 0.0
    axes = list(range(x.dim())) if axes is None else [a % x.dim() for a in axes]
    per_axis = {axis: (pads[i], pads[i + len(axes)]) for i, axis in enumerate(axes)}
    flat = [p for axis in reversed(range(x.dim())) for p in per_axis.get(axis, (0, 0))]
    while flat[-2:] == [0, 0] and len(flat) > 2:
        flat = flat[:-2]
    mode = _PAD_MODES[ctx.attr("mode", "constant")]
    if not any(flat):
        return x
    return F.pad(x, flat, mode=mode, value=value) if mode == "constant" else F.pad(x, flat, mode=mode)


@converts("DepthToSpace")
def depth_to_space(ctx, x):
    block = ctx.attr("blocksize")
    n, c, h, w = x.shape
    if ctx.attr("mode", "DCR") == "CRD":
        return F.pixel_shuffle(x, block)
    y = x.reshape(n, block, block, c // block ** 2, h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // block ** 2, h * block, w * block)


@converts("SpaceToDepth")
def space_to_depth(ctx, x):
    block = ctx.attr("blocksize")
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // block, block, w // block, block).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * block * block, h // block, w // block)


@converts("Shape")
def shape(ctx, x):
    dims = list(x.shape)
    start, end = ctx.attr("start", 0), ctx.attr("end", len(dims))
    return torch.tensor(dims[start:end] if ctx.opset >= 15 else dims, dtype=torch.int64)


@converts("Size")
def size(ctx, x):
    return torch.tensor(x.numel(), dtype=torch.int64)


@converts("Identity")
def identity(ctx, x):
    return x


@converts("Dropout")
def dropout(ctx, x, ratio=None, training=None):
    if ctx.uses_beyond_first():
        raise ctx.fail("its mask output is used (training only)")
    if training is not None and ctx.const([x, ratio, training], 2, "training_mode"):
        raise ctx.fail("training_mode is true: export the model in inference mode")
    return x
