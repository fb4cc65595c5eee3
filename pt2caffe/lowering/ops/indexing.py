"""Indexing with integers, slices (any step), None and Ellipsis: reading ``x[..., 1::2, :4]`` and
assigning ``y[..., 0:2] = v``.

Reading: a Slice per axis cut with step 1. Axes with a step ≥ 2 are picked by a Convolution
whose kernel is one-hot: 1 at the slice's start, 0 elsewhere, the step as stride, and a kernel
length k = L − (n − 1)·step along the axis (L its length, n the elements kept), so that exactly
n windows fit: window i reads position start + i·step. On the H/W axes of a 4-D blob this is one
depthwise Convolution for both axes (YOLOv5's Focus: ``x[..., 1::2, ::2]``); any other axis is
viewed as the height of an (−1, 1, L, rest) blob first. 1·x plus zeros is x exactly (finite x).

Assigning, out of place: the tensor is cut around the assigned box (Slice, shared with the read
of the same part when there is one), the box replaced, and the parts joined again (Concat). A
write through a view of another tensor stays refused by the tracer where that tensor is used.
"""
from __future__ import annotations

import numpy as np
import torch

from ...graph import Const
from ..choice import Form
from ..compose import (ELTWISE_SUM, broadcast_to, eltwise, keep_range, materialize, power, reshape, reshape_any_batch,
                       scalar_of, slice_parts)
from ..registry import handles


def _expand_index(index, rank: int) -> list:
    index = list(index) if isinstance(index, tuple) else [index]
    if Ellipsis in index:
        at = index.index(Ellipsis)
        used = sum(1 for item in index if item is not None and item is not Ellipsis)
        index[at:at + 1] = [slice(None)] * (rank - used)
    return index + [slice(None)] * (rank - sum(1 for item in index if item is not None))


def index_ranges(ctx, index, shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Per axis of the indexed tensor, (start, stop, step) with stop > start; an integer i is (i, i + 1, 1).

    Raises (``ctx.fail``) for tensor/bool indices and empty slices (Caffe has no empty blobs).
    """
    ranges, axis = [], 0
    for item in _expand_index(index, len(shape)):
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, (int, slice)):
            raise ctx.fail(f"indexing with {type(item).__name__} is not supported (only slices and integers)")
        size = shape[axis]
        if isinstance(item, int):
            start = item + size if item < 0 else item
            ranges.append((start, start + 1, 1))
        else:
            start, stop, step = item.indices(size)
            if not range(start, stop, step):
                raise ctx.fail(f"the slice {item} is empty on axis {axis}; Caffe has no empty blobs")
            ranges.append((start, min(stop, size), step))
        axis += 1
    return ranges


@handles("getitem", lowering="Slice per axis (+ Reshape for integers and None); a step: one-hot strided (depthwise) "
                             "Convolution")
def getitem(op, ctx):
    x = op.arg(0, "input")
    blob, strided = ctx.blob(x), {}
    for axis, (start, stop, step) in enumerate(index_ranges(ctx, op.arg(1, "index"), x.shape)):
        if step == 1:
            blob = keep_range(ctx, blob, axis, start, stop, role=f"axis{axis}")
        else:
            strided[axis] = (start, len(range(start, stop, step)), step)
    if strided:
        blob = strided_select(ctx, blob, strided, role="stride" if ctx.out_shape != blob.shape else None)
    return reshape(ctx, blob, ctx.out_shape)


def strided_select(ctx, x, steps: dict[int, tuple[int, int, int]], *, role: str | None = None):
    """x with each ``axis: (start, count, step)`` of ``steps`` reduced to positions start + i·step, i < count."""
    spatial = {axis: steps[axis] for axis in (2, 3) if len(x.shape) == 4 and axis in steps}
    others = sorted(set(steps) - set(spatial))
    for i, axis in enumerate(others):
        last = i == len(others) - 1 and not spatial
        x = _select_on_axis(ctx, x, axis, steps[axis], role if last else f"{role or 'stride'}/axis{axis}")
    if spatial:
        x = _one_hot_convolution(ctx, x, spatial, role)
    return x


def _kernel(length: int, count: int, step: int) -> tuple[int, int]:
    """(kernel length, stride) of a valid convolution with exactly ``count`` windows, the i-th at i·step."""
    return length - (count - 1) * step, step


def _one_hot_convolution(ctx, x, steps: dict[int, tuple[int, int, int]], role: str | None):
    """Depthwise Convolution over H and W picking (start_h + i·step_h, start_w + j·step_w)."""
    kernel, stride, offset, out = [1, 1], [1, 1], [0, 0], list(x.shape)
    for axis, (start, count, step) in steps.items():
        kernel[axis - 2], stride[axis - 2] = _kernel(x.shape[axis], count, step)
        offset[axis - 2], out[axis] = start, count
    channels = x.shape[1]
    weights = np.zeros((channels, 1, kernel[0], kernel[1]))
    weights[:, 0, offset[0], offset[1]] = 1.0
    params = {"num_output": channels, "bias_term": False, "group": channels, "kernel_h": kernel[0],
              "kernel_w": kernel[1], "stride_h": stride[0], "stride_w": stride[1]}
    return ctx.layer("Convolution", [x], {"convolution_param": params}, role=role, shape=tuple(out),
                     weights=[ctx.constant(weights, "one-hot strided selection kernel")])


def _select_on_axis(ctx, x, axis: int, selection: tuple[int, int, int], role: str | None):
    """Any axis: Reshape to (−1, 1, L, rest), a one-channel one-hot Convolution along the height, Reshape back;
    where the target refuses views across the batch (NNIE, ncnn), (N, A, L, rest) and a depthwise one."""
    tag = role or f"axis{axis}"
    rest = int(np.prod(x.shape[axis + 1:]))
    shape = x.shape[:axis] + (selection[1],) + x.shape[axis + 1:]

    def folded(ctx):
        column = reshape_any_batch(ctx, x, (1, x.shape[axis], rest), role=f"{tag}/as_height")
        picked = _pick_rows(ctx, column, selection, f"{tag}/pick")
        return reshape_any_batch(ctx, picked, shape[1:], role=role)

    def batch_kept(ctx):
        view = (x.shape[0], int(np.prod(x.shape[1:axis])), x.shape[axis], rest)
        rows = reshape(ctx, x, view, role=f"{tag}/as_height")
        return reshape(ctx, _pick_rows(ctx, rows, selection, f"{tag}/pick"), shape, role=role)
    if axis == 0:
        return folded(ctx)
    return ctx.choose(Form("batch-folding view", folded), Form("batch kept", batch_kept))


def _pick_rows(ctx, x, selection: tuple[int, int, int], role: str):
    """Rows start + i·step of the 4-D ``x``'s height: a depthwise one-hot Convolution with a (k, 1) kernel."""
    start, count, step = selection
    kernel, stride = _kernel(x.shape[2], count, step)
    channels = x.shape[1]
    weights = np.zeros((channels, 1, kernel, 1))
    weights[:, 0, start, 0] = 1.0
    group = {"group": channels} if channels > 1 else {}
    params = {"num_output": channels, "bias_term": False, **group, "kernel_h": kernel, "kernel_w": 1,
              "stride_h": stride, "stride_w": 1}
    return ctx.layer("Convolution", [x], {"convolution_param": params}, role=role,
                     shape=x.shape[:2] + (count, x.shape[3]),
                     weights=[ctx.constant(weights, "one-hot strided selection kernel")])


@handles("setitem", lowering="out of place: Slice around the assigned part + Concat; a number there is Power "
                             "(scale 0, shift c)")
def setitem(op, ctx):
    target, index, value = op.args[0], op.args[1], op.args[2]
    ranges = index_ranges(ctx, index, target.shape)
    if any(step != 1 for _, _, step in ranges):
        raise ctx.fail("assignment to a slice with a step is not supported (only steps of 1)")
    box = [(start, stop) for start, stop, _ in ranges]
    axes = [axis for axis, (start, stop) in enumerate(box) if (start, stop) != (0, target.shape[axis])]
    indexed = tuple(torch.empty(target.shape, device="meta")[index].shape)  # what torch broadcasts the value to
    return _replace(ctx, ctx.blob(target), box, axes, lambda old, role: _assigned(ctx, old, value, indexed, role))


def _replace(ctx, base, box: list[tuple[int, int]], axes: list[int], assigned, role: str | None = None):
    """``base`` with the part inside ``box`` replaced by ``assigned(old part, role)``, cutting along ``axes``."""
    if not axes:
        return assigned(base, role)
    axis, rest = axes[0], axes[1:]
    start, stop = box[axis]
    sizes = [size for size in (start, stop - start, base.shape[axis] - stop) if size > 0]
    parts = slice_parts(ctx, base, axis, sizes, role=f"{role or 'assign'}/cut{axis}")
    inside = 1 if start > 0 else 0
    parts[inside] = _replace(ctx, parts[inside], box, rest, assigned, f"{role or 'assign'}/axis{axis}")
    return ctx.layer("Concat", parts, {"concat_param": {"axis": axis}}, role=role, shape=base.shape)


def _assigned(ctx, old, value, indexed: tuple[int, ...], role: str | None):
    """The new content of the assigned part ``old`` (a blob of the box's shape; ``indexed`` is the same
    part without the integer-indexed axes, the shape torch broadcasts ``value`` to)."""
    number = scalar_of(value)
    if number is None and isinstance(value, Const) and value.tensor.numel() and \
            bool((value.tensor == value.tensor.reshape(-1)[0]).all()):
        number = float(value.tensor.reshape(-1)[0])
    if number is not None:  # Caffe's Power with scale 0 writes the constant whatever the input
        return power(ctx, old, scale=0.0, shift=number, role=role)
    if isinstance(value, Const):
        return materialize(ctx, Const(value.tensor.broadcast_to(old.shape), value.keys, value.derivation), [old])
    new = ctx.blob(value)
    if int(np.prod(new.shape)) != int(np.prod(old.shape)):  # repeated over the part (exact copies)
        padded = (1,) * (len(indexed) - len(new.shape)) + tuple(new.shape)
        new = broadcast_to(ctx, reshape(ctx, new, padded, role=f"{role or 'assign'}/rank"), indexed,
                           role=f"{role or 'assign'}/broadcast")
    new = reshape(ctx, new, old.shape, role=f"{role or 'assign'}/shape")
    if any(old.name in layer.bottoms for layer in ctx.builder.layers):
        return new
    # the old part has no reader: (0·old) + new consumes it, instead of a dangling top the runtimes would list
    # (not one Eltwise with coefficients 0 and 1: MNN ignores coefficients other than ±1)
    zeros = power(ctx, old, scale=0.0, role=f"{role or 'assign'}/zeros")
    return eltwise(ctx, [zeros, new], ELTWISE_SUM, role=role)
