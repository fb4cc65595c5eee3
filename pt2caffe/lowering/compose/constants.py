"""Constants as blobs: values that do not depend on the inputs, made from a seed blob as 0·seed + bias
(stock layers only: OpenCV and MNN have no Parameter layer).

Every function emits layers through an :class:`~pt2caffe.lowering.context.OpContext` and returns
the resulting blob. ``role`` names helper layers (``<op name>/<role>``); ``role=None`` marks the op's
own, final layer.
"""
from __future__ import annotations

import numpy as np
import torch

from ...graph import Const
from ...net.builder import Blob, Weight
from ..choice import Form
from .layout import reshape


def constant_blob(ctx, reference: Blob, values: Weight, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """A blob of shape (reference.shape[0], *shape) holding ``values`` (a weight blob of that many
    elements, row-major) in every row of the first axis.

    Stock layers only, so that a batch change keeps working and OpenCV/MNN (no Parameter layer)
    run it: once per reference blob, Reshape to (N, 1, −1, 1) and a global MAX Pooling give an
    (N, 1, 1, 1) seed; then an InnerProduct (axis 1) with zero weights and the values as its bias,
    and a Reshape. 0·seed + bias is the bias exactly, for any finite seed.
    """
    seed = batch_seed(ctx, reference)
    count = int(values.array.size)
    values = Weight(np.ascontiguousarray(values.array.reshape(-1)), values.source, values.transform)
    flat = ctx.layer("InnerProduct", [seed], {"inner_product_param": {"num_output": count, "axis": 1}},
                     role=f"{role or 'constant'}/values" if len(shape) != 1 else role, shape=(seed.shape[0], count),
                     weights=[ctx.constant(np.zeros((count, 1)), "zero weights (the constant is the bias)"), values])
    return reshape(ctx, flat, (seed.shape[0],) + tuple(shape), role=role)


def batch_seed(ctx, reference: Blob) -> Blob:
    """(N, 1, 1, 1): a finite number per row of ``reference`` (shared by every constant made from it): the
    maximum of the row, or — where the target limits feature maps to 4096 (NNIE) and the row is longer — the
    maximum of a zero 1×1 Convolution of the 4-D ``reference`` (0 for finite inputs)."""
    key = ("batch_seed", reference.name)
    if key not in ctx.builder.memo:
        forms = [Form("row maximum", lambda ctx: _row_maximum(ctx, reference))]
        if len(reference.shape) == 4 and reference.shape[1] > 1:
            forms.append(Form("zero Convolution", lambda ctx: _zero_plane_maximum(ctx, reference)))
        ctx.builder.memo[key] = ctx.choose(*forms)
    return ctx.builder.memo[key]


def _row_maximum(ctx, reference: Blob) -> Blob:
    column = reference
    if len(reference.shape) != 4 or reference.shape[1] != 1 or reference.shape[3] != 1:
        count = int(np.prod(reference.shape[1:]))
        column = ctx.layer("Reshape", [reference], {"reshape_param": {"shape": {"dim": [0, 1, -1, 1]}}},
                           role="batch_seed/column", shape=(reference.shape[0], 1, count, 1))
    return ctx.layer("Pooling", [column], {"pooling_param": {"pool": "MAX", "global_pooling": True}},
                     role="batch_seed", shape=(reference.shape[0], 1, 1, 1))


def _zero_plane_maximum(ctx, reference: Blob) -> Blob:
    params = {"num_output": 1, "bias_term": False, "kernel_size": [1]}
    plane = ctx.layer("Convolution", [reference], {"convolution_param": params}, role="batch_seed/plane",
                      shape=(reference.shape[0], 1) + reference.shape[2:],
                      weights=[ctx.constant(np.zeros((1, reference.shape[1], 1, 1)), "zeros: a 0 per pixel")])
    return _row_maximum(ctx, plane)


def materialize(ctx, const: Const, references: list[Blob]) -> Blob:
    """A constant tensor used where a blob is needed (``torch.cat((x, torch.zeros(n, c, h, w)), 1)``).

    Its first axis must be the batch-like first axis of one of the op's traced operands and the
    constant the same along it (as ``zeros(n, …)`` or ``token.expand(n, …)`` are); then every row is
    built by :func:`constant_blob`. Raises Pt2CaffeError (through ``ctx.fail``) otherwise.
    """
    tensor = const.tensor.detach().to(torch.float64)
    if tensor.dim() == 0:
        raise ctx.fail(f"uses the scalar constant {const.describe()} as a tensor; a constant operand needs the "
                       "batch axis of a traced operand")
    if not torch.equal(tensor, tensor[:1].expand_as(tensor)):
        raise ctx.fail(f"uses constant {const.describe()} of shape {list(const.shape)}, which differs along its "
                       "first axis; only constants that repeat over the batch can be built from an input")
    for reference in references:
        if reference.shape and reference.shape[0] == tensor.shape[0]:
            key = ("constant", const, reference.name)  # the object itself: kept alive, never a reused id
            if key not in ctx.builder.memo:
                row = ctx.weight(const, tensor[0].reshape(-1), "one batch row, as an InnerProduct bias")
                ctx.builder.memo[key] = constant_blob(ctx, reference, row, tuple(tensor.shape[1:]), role="constant")
            return ctx.builder.memo[key]
    raise ctx.fail(f"uses constant {const.describe()} of shape {list(const.shape)}, but no traced operand has "
                   f"{tensor.shape[0]} rows on its first axis to build it from")
