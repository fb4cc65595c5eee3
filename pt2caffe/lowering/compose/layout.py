"""Layout: Reshape (batch kept or absorbed), Permute and Slice, the layers that view or cut a blob.

Every function emits layers through an :class:`~pt2caffe.lowering.context.OpContext` and returns
the resulting blob. ``role`` names helper layers (``<op name>/<role>``); ``role=None`` marks the op's
own, final layer.
"""
from __future__ import annotations

import numpy as np

from ...net.builder import Blob
from ..choice import Form


def reshape(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Reshape to a fixed shape; the batch dimension is copied (``dim: 0``) when unchanged.

    A reshape to 2-D that changes the first axis ((T, N, F) → (T·N, F)) is followed by a Flatten
    (axis 1: no change): MNN 3.6.1's converter merges such a Reshape with the reshape it puts in
    front of an InnerProduct and keeps the old first axis (shape error or empty output, measured);
    the Flatten keeps them apart. pycaffe and OpenCV need neither.
    """
    shape = tuple(int(d) for d in shape)
    if shape == x.shape:
        return x
    dims = list(shape)
    if shape and x.shape and shape[0] == x.shape[0]:
        dims[0] = 0
    if len(shape) != 2:
        return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": dims}}}, role=role, shape=shape)
    if dims[0] == 0:  # (N, …) → (N, rest): NNIE takes only 4-D Reshapes, Flatten is the same view
        return ctx.choose(
            Form("Reshape", lambda ctx: ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": dims}}},
                                                  role=role, shape=shape)),
            Form("Flatten", lambda ctx: ctx.layer("Flatten", [x], {"flatten_param": {"axis": 1}}, role=role,
                                                  shape=shape)))
    rows = ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": dims}}}, role=f"{role or 'reshape'}/rows",
                     shape=shape)
    return ctx.layer("Flatten", [rows], {"flatten_param": {"axis": 1}}, role=role, shape=shape)


def permute(ctx, x: Blob, order: list[int], *, role: str | None = None) -> Blob:
    order = [int(d) for d in order]
    if order == sorted(order):
        return x
    shape = tuple(x.shape[d] for d in order)
    return ctx.layer("Permute", [x], {"permute_param": {"order": order}}, role=role, shape=shape)


def slice_parts(ctx, x: Blob, axis: int, sizes: list[int], *, role: str | None = None) -> list[Blob]:
    """Cut ``x`` along ``axis`` into parts of ``sizes`` (Slice); parts nobody uses are silenced later.

    The same cut of the same blob is emitted once: a later op that cuts it alike (``y[..., :2]`` read,
    then ``y[..., :2] = …`` written) reuses its tops, so that every part finds a reader.
    """
    if len(sizes) == 1:
        return [x]
    points, total = [], 0
    for size in sizes[:-1]:
        total += size
        points.append(total)
    key = ("slice", x.name, axis, tuple(points))
    if key not in ctx.builder.memo:
        shapes = [x.shape[:axis] + (size,) + x.shape[axis + 1:] for size in sizes]
        ctx.builder.memo[key] = ctx.layer("Slice", [x], {"slice_param": {"axis": axis, "slice_point": points}},
                                          role=role, top_shapes=shapes)
    return list(ctx.builder.memo[key])


def keep_range(ctx, x: Blob, axis: int, start: int, stop: int, *, role: str | None = None) -> Blob:
    """x[..., start:stop, ...] on ``axis`` via Slice."""
    length = x.shape[axis]
    sizes = [size for size in (start, stop - start, length - stop) if size > 0]
    if sizes == [length]:
        return x
    parts = slice_parts(ctx, x, axis, sizes, role=role)
    return parts[1] if start > 0 else parts[0]


def as_image(ctx, x: Blob, *, role: str | None = None) -> Blob:
    """``x`` (4-D) viewed as itself with its extents written out (the batch copied): ncnn holds a global
    Pooling's (N, C, 1, 1) output as a vector, on which a Deconvolution crashes, until such a Reshape makes
    it an image again (src/layer/pooling.cpp; measured)."""
    dims = [0, *x.shape[1:]]
    return ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": dims}}}, role=f"{role or 'view'}/image",
                     shape=x.shape)


def reshape_any_batch(ctx, x: Blob, tail: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Reshape to (−1, *tail): the first axis absorbs (or gives back) the batch, whatever it is. When it
    stays x's first axis, ``dim: 0`` says the same where the target needs it (NNIE: Reshape with dim 0 first)."""
    count = int(np.prod(x.shape)) // int(np.prod(tail))

    def view(first: int):
        return lambda ctx: ctx.layer("Reshape", [x], {"reshape_param": {"shape": {"dim": [first, *tail]}}},
                                     role=role, shape=(count, *tail))
    if not x.shape or count != x.shape[0]:
        return view(-1)(ctx)
    return ctx.choose(Form("inferred first axis", view(-1)), Form("batch copied", view(0)))


def concat(ctx, parts: list[Blob], axis: int, role: str) -> Blob:
    """``parts`` joined along ``axis`` (Concat); a single part is returned as it is."""
    if len(parts) == 1:
        return parts[0]
    shape = list(parts[0].shape)
    shape[axis] = sum(part.shape[axis] for part in parts)
    return ctx.layer("Concat", parts, {"concat_param": {"axis": axis}}, role=role, shape=tuple(shape))
