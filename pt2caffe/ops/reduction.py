"""Reductions: mean/sum over any axes, max/min/amax/amin over one block of adjacent axes.

Caffe's Reduction only reduces all trailing axes, so the reduced axes are
permuted to the end first. Max has no Reduction: the reduced block becomes the
height of a (A, 1, D, B) view that a D×1 MAX Pooling collapses.
"""
from __future__ import annotations

import math

from ..tracer import Value
from .common import normalize_dim, permute, power, reshape
from .elementwise import binary
from .registry import handles


def _reduced_axes(dim, rank: int) -> list[int]:
    """The axes ``dim`` reduces: all of them when it is None or empty, as in torch."""
    if dim is None or (isinstance(dim, (list, tuple)) and not dim):
        return list(range(rank))
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return sorted(normalize_dim(int(d), rank) for d in dims)


def _sum_or_mean(op, ctx, operation: str):
    x = op.arg(0, "input")
    rank = len(x.shape)
    axes = _reduced_axes(op.arg(1, "dim"), rank)
    blob = ctx.blob(x)
    if rank == 4 and axes == [2, 3]:
        pooled = ctx.layer("Pooling", [blob], {"pooling_param": {"pool": "AVE", "global_pooling": True}},
                           role="global_average", shape=x.shape[:2] + (1, 1))
        if operation == "SUM":
            pooled = power(ctx, pooled, scale=float(x.shape[2] * x.shape[3]), role="times_area")
        return reshape(ctx, pooled, ctx.out_shape)
    kept = [axis for axis in range(rank) if axis not in axes]
    blob = permute(ctx, blob, kept + axes, role="reduced_last")
    reduced = ctx.layer("Reduction", [blob], {"reduction_param": {"operation": operation, "axis": len(kept)}},
                        shape=tuple(x.shape[axis] for axis in kept))
    return reshape(ctx, reduced, ctx.out_shape, role="keepdim")


@handles("mean", lowering="Pooling AVE (global, over H×W) or Permute + Reduction MEAN")
def mean(op, ctx):
    return _sum_or_mean(op, ctx, "MEAN")


@handles("sum", lowering="Pooling AVE × area (over H×W) or Permute + Reduction SUM")
def sum_op(op, ctx):
    return _sum_or_mean(op, ctx, "SUM")


def _extreme(op, ctx, largest: bool):
    x = op.arg(0, "input")
    rank = len(x.shape)
    axes = _reduced_axes(op.arg(1, "dim"), rank)
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise ctx.fail(f"reducing non-adjacent axes {axes} is not supported")
    outer = math.prod(x.shape[:axes[0]])
    block = math.prod(x.shape[axes[0]:axes[-1] + 1])
    inner = math.prod(x.shape[axes[-1] + 1:])
    blob = reshape(ctx, ctx.blob(x), (outer, 1, block, inner), role="as_column")
    if not largest:
        blob = power(ctx, blob, scale=-1.0, role="negate")
    params = {"pool": "MAX", "kernel_h": block, "kernel_w": 1, "stride_h": 1, "stride_w": 1}
    pooled = ctx.layer("Pooling", [blob], {"pooling_param": params}, shape=(outer, 1, 1, inner),
                       role=None if largest else "max")
    if not largest:
        pooled = power(ctx, pooled, scale=-1.0, role="negate_back")
    return [reshape(ctx, pooled, ctx.out_shape, role="result")] + [None] * (len(op.outputs) - 1)


@handles("amax", lowering="Reshape + Pooling MAX over the reduced block")
def amax(op, ctx):
    return _extreme(op, ctx, True)


@handles("amin", lowering="−max(−x): Power + Reshape + Pooling MAX")
def amin(op, ctx):
    return _extreme(op, ctx, False)


@handles("max", "min", lowering="Pooling MAX (over an axis; indices not exported) or Eltwise MAX (two tensors)")
def max_or_min(op, ctx):
    if isinstance(op.arg(1, "dim"), Value):
        return binary(op, ctx, "maximum" if op.kind == "max" else "minimum")
    return _extreme(op, ctx, op.kind == "max")
