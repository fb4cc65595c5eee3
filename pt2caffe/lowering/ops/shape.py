"""Shape and layout ops: view/reshape/flatten/squeeze, permute/transpose, cat/stack, split/chunk, expand/repeat.

No-ops (contiguous, clone, dropout in eval, float casts) vanish: their output is their input's blob.
"""
from __future__ import annotations

import math

import torch

from ...graph import Const
from ..choice import Form
from ..compose import broadcast_to, constant_blob, copy_blocks, normalize_dim, permute, reshape, slice_parts
from ..registry import handles


def _sizes(args) -> list[int]:
    """``view(2, 3)`` and ``view((2, 3))`` both give [2, 3]."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    return [int(a) for a in args]


@handles("contiguous", "clone", "detach", "float", "to", "type", "alias", "attr_data", "int", "long",
         lowering="nothing (no-op); integers (indices) stay integers in float32 blobs")
def no_op(op, ctx):
    source, target = op.arg(0, "input").dtype, op.outputs[0].dtype
    if target != torch.float32 and (source.is_floating_point or target.is_floating_point):
        raise ctx.fail(f"casts to {target} (from {source}); Caffe computes in float32 only")
    return ctx.blob(op.arg(0, "input"))


@handles("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
         lowering="nothing (identity in eval mode)")
def dropout(op, ctx):
    if op.arg(2, "training", False):
        raise ctx.fail("dropout runs in training mode; call model.eval() before exporting")
    return ctx.blob(op.arg(0, "input"))


@handles("view", "reshape", "flatten", "unsqueeze", "squeeze", "unflatten", "view_as", "reshape_as",
         lowering="Flatten (axis 1) for (N, ...) → (N, -1), else Reshape (dim 0 keeps the batch; a 2-D one "
                  "that changes the first axis is followed by a Flatten, for MNN)")
def reshape_op(op, ctx):
    x, out = ctx.blob(op.arg(0, "input")), ctx.out_shape
    if len(x.shape) > 2 and len(out) == 2 and out[0] == x.shape[0]:
        return ctx.layer("Flatten", [x], {"flatten_param": {"axis": 1}})
    return reshape(ctx, x, out)


def permute_order(op) -> list[int]:
    """The axis order of a permute, transpose, swapaxes, t, .T or .mT op (output axis k is input axis order[k])."""
    rank = len(op.arg(0, "input").shape)
    if op.kind == "permute":
        return [normalize_dim(d, rank) for d in _sizes(op.args[1:] or [op.kwargs["dims"]])]
    if op.kind == "attr_T":
        return list(range(rank))[::-1]
    if op.kind == "attr_mT":
        return _swapped(rank, -2, -1)
    if rank < 2:
        return list(range(rank))
    first, second = (0, 1) if op.kind == "t" else (op.arg(1, "dim0", op.kwargs.get("axis0")),
                                                   op.arg(2, "dim1", op.kwargs.get("axis1")))
    return _swapped(rank, first, second)


@handles("permute", "transpose", "swapaxes", "t", lowering="Permute; a shift of the axes after the batch also as one "
                                                      "Permute (0, 2, 3, 1) between views (NNIE takes only that order)")
def permute_op(op, ctx):
    x, order = ctx.blob(op.arg(0, "input")), permute_order(op)
    shift = _cyclic_shift(order)
    if shift is None:
        return permute(ctx, x, order)
    return ctx.choose(Form("Permute", lambda ctx: permute(ctx, x, order)),
                      Form("rotation", lambda ctx: _rotated(ctx, x, shift, tuple(x.shape[d] for d in order))))


def _cyclic_shift(order: list[int]) -> int | None:
    """k when ``order`` keeps axis 0 and turns the others (1 … r−1) by k places: (0, k+1, …, r−1, 1, …, k)."""
    rest = order[1:]
    if len(order) < 3 or order[0] != 0 or rest == sorted(rest):
        return None
    k = rest[0] - 1
    return k if rest == list(range(k + 1, len(order))) + list(range(1, k + 1)) else None


def _rotated(ctx, x, shift: int, shape: tuple[int, ...]):
    """x's axes 1…k and k+1…r−1 as the two sides of an (N, A, B, 1) view, which Permute (0, 2, 3, 1) turns into
    (N, B, 1, A): the axes shifted by k (a Reshape on either side moves no data)."""
    first, rest = math.prod(x.shape[1:shift + 1]), math.prod(x.shape[shift + 1:])
    view = reshape(ctx, x, (x.shape[0], first, rest, 1), role="sides")
    turned = ctx.layer("Permute", [view], {"permute_param": {"order": [0, 2, 3, 1]}}, role="rotate",
                       shape=(x.shape[0], rest, 1, first))
    return reshape(ctx, turned, shape)


def _swapped(rank: int, first: int, second: int) -> list[int]:
    """The identity order of ``rank`` axes with axes ``first`` and ``second`` exchanged."""
    order = list(range(rank))
    a, b = normalize_dim(first, rank), normalize_dim(second, rank)
    order[a], order[b] = order[b], order[a]
    return order


def _dim_arg(op) -> int:
    """``dim`` of cat/stack, also spelt ``axis`` (torch.concatenate)."""
    return op.arg(1, "dim", op.kwargs.get("axis", 0))


def _operands(op, ctx, what: str, axis: int):
    """The non-empty tensors of cat/stack; constants among them are built from the batch of the traced
    ones (``ctx.blob``), which needs the batch to stay off the joined axis."""
    tensors = [t for t in op.arg(0, "tensors") if not (t.shape and 0 in t.shape)]
    if axis == 0 and any(isinstance(t, Const) for t in tensors):
        raise ctx.fail(f"{what} of a constant tensor along axis 0 is not supported: a constant is built per batch "
                       "entry, so it cannot extend the first axis")
    return tensors


@handles("cat", lowering="Concat; a constant operand (zeros, a class token) from InnerProduct(0·seed + bias) "
                         "on a per-row seed of a traced operand")
def cat(op, ctx):
    axis = normalize_dim(_dim_arg(op), len(ctx.out_shape))
    tensors = _operands(op, ctx, "concatenation", axis)
    if len(tensors) == 1:
        return ctx.blob(tensors[0])
    return ctx.layer("Concat", [ctx.blob(t) for t in tensors], {"concat_param": {"axis": axis}})


@handles("stack", lowering="Reshape each + Concat")
def stack(op, ctx):
    axis = normalize_dim(_dim_arg(op), len(ctx.out_shape))
    tensors = _operands(op, ctx, "stacking", axis)
    parts = [reshape(ctx, ctx.blob(t), t.shape[:axis] + (1,) + t.shape[axis:], role=f"unsqueeze{i}")
             for i, t in enumerate(tensors)]
    return ctx.layer("Concat", parts, {"concat_param": {"axis": axis}})


@handles("chunk", "split", "split_with_sizes", "tensor_split", "unbind",
         lowering="Slice (unused parts eaten by identity Crops)")
def split(op, ctx):
    x = op.arg(0, "input")
    axis = normalize_dim(int(op.arg(1 if op.kind == "unbind" else 2, "dim", 0)), len(x.shape))
    sizes = [v.shape[axis] if op.kind != "unbind" else 1 for v in op.outputs]
    parts = slice_parts(ctx, ctx.blob(x), axis, sizes)
    if op.kind == "unbind":
        return [reshape(ctx, part, value.shape, role=f"squeeze{i}") for i, (part, value) in
                enumerate(zip(parts, op.outputs))]
    return parts


@handles("expand", "broadcast_to", lowering="Deconvolution / 1×1 Convolution of ones (exact copies)")
def expand(op, ctx):
    x = op.arg(0, "input")
    full = ctx.out_shape
    padded = (1,) * (len(full) - len(x.shape)) + tuple(x.shape)
    return broadcast_to(ctx, reshape(ctx, ctx.blob(x), padded, role="rank"), full)


@handles("repeat", lowering="per repeated axis: Reshape + 1×1 Convolution of ones (copies) + Reshape")
def repeat(op, ctx):
    """x.repeat(r…): along each axis with r > 1, every block x[…, :, …] from that axis on is written r times."""
    x = op.arg(0, "input")
    repeats = _sizes(op.args[1:] or [op.kwargs["repeats"]])
    padded = (1,) * (len(repeats) - len(x.shape)) + tuple(x.shape)
    blob = reshape(ctx, ctx.blob(x), padded, role="rank")
    repeated = [axis for axis, count in enumerate(repeats) if count != 1]
    for axis in repeated:
        target = blob.shape[:axis] + (blob.shape[axis] * repeats[axis],) + blob.shape[axis + 1:]
        blob = copy_blocks(ctx, blob, axis, repeats[axis], target, role=None if axis == repeated[-1] else f"axis{axis}")
    return reshape(ctx, blob, ctx.out_shape)


@handles("constant", lowering="Reshape + Pooling MAX of an input to 1 value, InnerProduct (weights 0, bias = the "
                              "constant) + Reshape: a model output that does not depend on the inputs")
def constant(op, ctx):
    """A constant output, made from the first input (no Parameter layer: OpenCV lacks it) by the construction
    of every constant (:func:`~pt2caffe.lowering.compose.constants.constant_blob`) on the whole input seen as
    one row (1, 1, count, 1): 0·m + b = b exactly for any finite m, so the InnerProduct's bias is the output.
    An inf or nan in that input would leak in."""
    const = op.arg(0, "tensor")
    source = ctx.builder.inputs[0]
    count, values = math.prod(source.shape), const.tensor.reshape(-1)
    column = reshape(ctx, source, (1, 1, count, 1), role="source")
    row = constant_blob(ctx, column, ctx.weight(const, values, "flattened, as the bias of an InnerProduct"),
                        (values.numel(),), role="values")
    return reshape(ctx, row, tuple(const.shape))


handles("attr_T", lowering="Permute (all axes reversed)")(permute_op)
handles("attr_mT", lowering="Permute (last two axes swapped)")(permute_op)
