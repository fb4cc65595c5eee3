"""Reductions: mean/sum/max/min/amax/amin over any axes, as Pooling (no Reduction layer: OpenCV lacks it).

The reduced axes are made adjacent (a Permute moves them to the end when they are not), the
tensor is viewed as (A, 1, D, B) with the reduced block D as its height (or, for targets that refuse
views across the batch, (N, A/N, D, B)), and one D×1 Pooling collapses it: AVE for mean, AVE × D for
sum (Power), MAX for max, −max(−x) for min. Mean over
H×W of a 4-D tensor is global average pooling. Caffe's AVE Pooling without padding divides the
window's float sum by D (pooling_layer.cpp), as torch's mean does.
"""
from __future__ import annotations

import math

from ...graph import Value
from ..choice import Form
from ..compose import normalize_dim, permute, power, reshape, window
from ..registry import handles
from .elementwise import binary
from .selection import extreme_with_index

ZERO_D = "✓ except a 0-d result (a Reshape to no axes: OpenCV refuses it, MNN crashes)"


def _reduced_axes(dim, rank: int) -> list[int]:
    """The axes ``dim`` reduces: all of them when it is None or empty, as in torch."""
    if dim is None or (isinstance(dim, (list, tuple)) and not dim):
        return list(range(rank))
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return sorted(normalize_dim(int(d), rank) for d in dims)


def _pool_over(ctx, x: Value, method: str, *, negate: bool = False):
    """Pool ``x`` over the op's ``dim`` axes; returns the pooled blob reshaped to the op's output."""
    rank = len(x.shape)
    axes = _reduced_axes(ctx.op.arg(1, "dim"), rank)
    blob, shape = ctx.blob(x), tuple(x.shape)
    if rank == 4 and axes == [2, 3] and method == "AVE":
        pooled = ctx.layer("Pooling", [blob], {"pooling_param": {"pool": "AVE", "global_pooling": True}},
                           role="global_average", shape=shape[:2] + (1, 1))
        return pooled, shape[2] * shape[3]
    if axes != list(range(axes[0], axes[-1] + 1)):
        kept = [axis for axis in range(rank) if axis not in axes]
        blob = permute(ctx, blob, kept + axes, role="reduced_last")
        shape, axes = blob.shape, list(range(len(kept), rank))
    block, inner = math.prod(shape[axes[0]:axes[-1] + 1]), math.prod(shape[axes[-1] + 1:])
    views = [Form("column view", lambda ctx: _pool_view(ctx, blob, (math.prod(shape[:axes[0]]), 1, block, inner),
                                                        method, negate))]
    if axes[0] > 0:  # the batch kept on axis 0 (NNIE, ncnn): (N, A, block, inner)
        views.append(Form("batch kept", lambda ctx: _pool_view(
            ctx, blob, (shape[0], math.prod(shape[1:axes[0]]), block, inner), method, negate)))
    return ctx.choose(*views), block


def _pool_view(ctx, blob, view: tuple[int, ...], method: str, negate: bool):
    """Pool the third axis of ``blob`` seen as the 4-D ``view`` (a Pooling window of (view[2], 1))."""
    blob = reshape(ctx, blob, view, role="as_column")
    if negate:
        blob = power(ctx, blob, scale=-1.0, role="negate")
    params = {"pool": method, **window((view[2], 1), repeated=False)}
    return ctx.layer("Pooling", [blob], {"pooling_param": params}, shape=view[:2] + (1, view[3]), role="pool")


def _sum_or_mean(op, ctx, total: bool):
    pooled, count = _pool_over(ctx, op.arg(0, "input"), "AVE")
    if total:
        pooled = power(ctx, pooled, scale=float(count), role="times_count")
    return reshape(ctx, pooled, ctx.out_shape)


@handles("mean", lowering="Pooling AVE over the reduced block (global over H×W; Permute when the axes are apart)",
         portable=ZERO_D)
def mean(op, ctx):
    return _sum_or_mean(op, ctx, False)


@handles("sum", lowering="Pooling AVE × count (Power) over the reduced block (Permute when the axes are apart)",
         portable=ZERO_D)
def sum_op(op, ctx):
    return _sum_or_mean(op, ctx, True)


def _extreme(op, ctx, largest: bool):
    pooled, _ = _pool_over(ctx, op.arg(0, "input"), "MAX", negate=not largest)
    if not largest:
        pooled = power(ctx, pooled, scale=-1.0, role="negate_back")
    return [reshape(ctx, pooled, ctx.out_shape)] + [None] * (len(op.outputs) - 1)


@handles("amax", lowering="Reshape + Pooling MAX over the reduced block", portable=ZERO_D)
def amax(op, ctx):
    return _extreme(op, ctx, True)


@handles("amin", lowering="−max(−x): Power + Reshape + Pooling MAX", portable=ZERO_D)
def amin(op, ctx):
    return _extreme(op, ctx, False)


@handles("max", "min", lowering="Pooling MAX (over an axis; with the indices, when used, as argmax) or Eltwise MAX "
                                "(two tensors)", portable=ZERO_D)
def max_or_min(op, ctx):
    x, dim = op.arg(0, "input"), op.arg(1, "dim")
    if isinstance(dim, Value):
        return binary(op, ctx, "maximum" if op.kind == "max" else "minimum")
    if len(op.outputs) == 2 and ctx.is_used(op.outputs[1]):  # the indices feed something (a greedy decoder)
        values, index = extreme_with_index(ctx, ctx.blob(x), normalize_dim(int(dim), len(x.shape)), op.kind == "max")
        return [reshape(ctx, values, op.outputs[0].shape), reshape(ctx, index, op.outputs[1].shape, role="indices")]
    return _extreme(op, ctx, op.kind == "max")
