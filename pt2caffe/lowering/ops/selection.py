"""Indices as values: argmax/argmin, one-hot vectors, scattering a number at indices, embedding lookups — what a
greedy decoder feeds back (``_, char = probs.max(1)`` → ``zeros(n, k).scatter_(1, char.unsqueeze(1), 1)`` or
``F.one_hot(char, k)`` or ``embedding(char)`` → the next step), and BiSeNetV2's ``argmax`` export head.

The indices come from compose.first_maximum (PyTorch's first maximum, exactly); a one-hot from
compose.one_hot (ReLU(1 − |i − k|), exact on integers); everything downstream is exact arithmetic on 0/1.
"""
from __future__ import annotations

import math

import numpy as np

from ...graph import Const, Value
from ..compose import first_maximum, normalize_dim, one_hot, permute, power, relu, reshape, scalar_of
from ..registry import handles


def extreme_with_index(ctx, blob, axis: int, largest: bool):
    """(values, index) of the blob's maximum (or minimum: −max(−x)) along ``axis`` and of its first
    occurrence, shaped (outer, 1, 1, inner) and (outer, 1, inner, 1)."""
    if not largest:
        blob = power(ctx, blob, scale=-1.0, role="negated")
    values, index, _ = first_maximum(ctx, blob, axis, role="first_maximum")
    return (values if largest else power(ctx, values, scale=-1.0, role="negated_back")), index


@handles("argmax", "argmin", lowering="the first extreme's one-hot: Pooling MAX, Deconvolution (copies), Eltwise, "
                                      "Power (×2¹²⁷), ReLU, 1×1 Convolutions (Caffe's ArgMax takes the last)",
         portable="✓ except a 0-d result (over the whole tensor: a Reshape to no axes, which OpenCV refuses and "
                  "MNN crashes on)")
def argmax(op, ctx):
    x, dim = op.arg(0, "input"), op.arg(1, "dim")
    if dim is None:  # over the flattened tensor
        blob, axis = reshape(ctx, ctx.blob(x), (1, math.prod(x.shape)), role="flat"), 1
    else:
        blob, axis = ctx.blob(x), normalize_dim(int(dim), len(x.shape))
    return reshape(ctx, extreme_with_index(ctx, blob, axis, op.kind == "argmax")[1], ctx.out_shape)


@handles("one_hot", lowering="ReLU(1 − |i − k|) for k = 0 … K − 1: 1×1 Convolution (copies), Scale (−k), AbsVal, "
                             "Power, ReLU")
def one_hot_op(op, ctx):
    index, classes = op.arg(0, "input"), op.arg(1, "num_classes", -1)
    if not isinstance(classes, int) or classes < 1:
        raise ctx.fail("one_hot needs num_classes: without it the output's size depends on the values")
    return reshape(ctx, one_hot(ctx, ctx.blob(index), classes, role="classes"), ctx.out_shape)


def _uniform(value) -> float | None:
    """The single value of a constant tensor whose elements are all equal (zeros(n, k)), else None."""
    if isinstance(value, Const) and value.tensor.numel() and bool((value.tensor == value.tensor.flatten()[0]).all()):
        return float(value.tensor.flatten()[0])
    return None


@handles("scatter", lowering="a number written at indices of a constant tensor (a one-hot): one-hot of each "
                             "index, summed over the indices and capped at 1, then Power (base + (number − base)·hit)")
def scatter(op, ctx):
    base, dim, index, source = op.arg(0, "input"), op.arg(1, "dim"), op.arg(2, "index"), op.arg(3, "src")
    filler, number = _uniform(base), scalar_of(source) if source is not None else scalar_of(op.arg(3, "value"))
    if filler is None or number is None or op.kwargs.get("reduce") or not isinstance(index, Value):
        raise ctx.fail("only writing a number at traced indices into a constant tensor of one value (a one-hot "
                       "from zeros) is supported")
    rank = len(base.shape)
    axis = normalize_dim(int(dim), rank)
    if any(index.shape[a] != base.shape[a] for a in range(rank) if a != axis):
        raise ctx.fail(f"the indices {list(index.shape)} must match the tensor {list(base.shape)} but along dim")
    order = [a for a in range(rank) if a != axis] + [axis]
    last = permute(ctx, ctx.blob(index), order, role="indices_last")
    rows, per_row, classes = math.prod(last.shape[:-1]), last.shape[-1], base.shape[axis]
    hot = reshape(ctx, one_hot(ctx, last, classes, role="one_hot"), (rows, per_row, classes, 1), role="by_row")
    if per_row > 1:  # several indices per row: hit where any of them points, min(Σ, 1) = 1 − ReLU(1 − Σ)
        hot = ctx.layer("Convolution", [hot],
                        {"convolution_param": {"num_output": 1, "bias_term": False, "kernel_size": [1]}},
                        role="hit_count", shape=(rows, 1, classes, 1),
                        weights=[ctx.constant(np.ones((1, per_row, 1, 1)), "counts the hits")])
        hot = power(ctx, relu(ctx, power(ctx, hot, scale=-1.0, shift=1.0, role="misses"), role="no_hit"),
                    scale=-1.0, shift=1.0, role="hit")
    moved = reshape(ctx, hot, tuple(base.shape[a] for a in order), role="hit_by_position")
    hit = permute(ctx, moved, [order.index(a) for a in range(rank)], role="hit_in_place")
    return power(ctx, hit, scale=number - filler, shift=filler)


@handles("embedding", lowering="one-hot of the indices (as one_hot), then InnerProduct with the table (one term "
                               "per row: exact)")
def embedding(op, ctx):
    index, table = op.arg(0, "input"), op.arg(1, "weight")
    if not isinstance(table, Const) or op.arg(3, "max_norm") is not None:
        raise ctx.fail("only a lookup in a fixed table (no max_norm renormalisation) is supported")
    rows, width = table.shape
    hot = one_hot(ctx, ctx.blob(index), rows, role="one_hot")
    params = {"num_output": width, "bias_term": False, "axis": 1}
    looked = ctx.layer("InnerProduct", [reshape(ctx, hot, (hot.shape[0], rows), role="rows")],
                       {"inner_product_param": params}, role="lookup", shape=(hot.shape[0], width),
                       weights=[ctx.weight(table, table.tensor.detach().numpy().T, "transposed (rows → outputs)")])
    return reshape(ctx, looked, ctx.out_shape)
