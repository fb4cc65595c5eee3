"""Exact copies: size-1 axes broadcast to a shape, and blocks written several times in a row (``repeat``),
from Deconvolution and 1×1 Convolution of ones (layers every runtime accepts).

Every function emits layers through an :class:`~pt2caffe.lowering.context.OpContext` and returns
the resulting blob. ``role`` names helper layers (``<op name>/<role>``); ``role=None`` marks the op's
own, final layer.
"""
from __future__ import annotations

import numpy as np

from ...net.builder import Blob
from ..choice import Form
from .basic import window
from .layout import as_image, reshape


def broadcast_to(ctx, x: Blob, shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Repeat the size-1 axes of ``x`` (same rank as ``shape``) up to ``shape``: every value copied (×1), exact.

    Layers every runtime accepts (Tile fails in OpenCV, a two-bottom Scale crashes MNN's converter):
    on a 4-D blob whose H and/or W grow, one depthwise Deconvolution with stride 1 and a kernel of
    ones as large as the growth (out[h, w] = Σ x[i, j]·1 over the one input position in reach).
    Otherwise each run of adjacent growing axes [i, j) is the channel axis of a (−1, 1, rest, 1)
    view and a 1×1 Convolution of ones makes it prod(shape[i:j]) long (Reshapes move no data).
    """
    shape = tuple(int(d) for d in shape)
    grows = [have != want for have, want in zip(x.shape, shape)]
    if not any(grows):
        return x
    if len(shape) == 4 and not any(grows[:2]):
        return ctx.choose(Form("Deconvolution of ones", lambda ctx: _spread(ctx, x, shape, grows, role)),
                          Form("4-D view, Deconvolution of ones", lambda ctx: _spread(ctx, as_image(ctx, x, role=role), shape,
                                                                                     grows, role)))
    runs = [axis for axis in range(len(shape)) if grows[axis] and (axis == 0 or not grows[axis - 1])]
    for n, start in enumerate(runs):
        stop = next((axis for axis in range(start, len(shape)) if not grows[axis]), len(shape))
        target = x.shape[:start] + shape[start:stop] + x.shape[stop:]
        x = copy_blocks(ctx, x, start, int(np.prod(shape[start:stop])), target,
                        role=role if n == len(runs) - 1 else f"{role or 'broadcast'}/axis{start}")
    return x


def _spread(ctx, x: Blob, shape: tuple[int, ...], grows: list[bool], role: str | None) -> Blob:
    """One depthwise Deconvolution of ones with stride 1, as large as the growth of H and W."""
    kernel = tuple(shape[axis] if grows[axis] else 1 for axis in (2, 3))
    channels = shape[1]
    params = {"num_output": channels, "group": channels, "bias_term": False, **window(kernel, repeated=True)}
    ones = ctx.constant(np.ones((channels, 1) + kernel), "broadcast: each value copied to its block")
    return ctx.layer("Deconvolution", [x], {"convolution_param": params}, role=role, shape=shape, weights=[ones])


def copy_blocks(ctx, x: Blob, axis: int, count: int, target: tuple[int, ...], *, role: str | None = None) -> Blob:
    """Each block x[i₀, …, i_axis−1, :, …, :] written ``count`` times in a row, viewed as ``target``.

    ``x`` is viewed as (outer, 1, block, 1) and a 1×1 Convolution with ``count`` outputs and weights
    1 copies it (exact). Broadcasting size-1 axes and ``repeat`` are both this. Where the target refuses
    views across the batch (NNIE, ncnn), x is viewed as (N, A, 1, block) and a depthwise Deconvolution of
    ones with a (count, 1) kernel copies each row instead (exact too).
    """
    tag = role or f"copies/axis{axis}"
    target = tuple(int(d) for d in target)
    forms = [Form("channel copies", lambda ctx: _channel_copies(ctx, x, axis, count, target, tag, role))]
    if axis >= 1 and not (len(x.shape) == 4 and axis == 1 and x.shape[1] == 1):
        forms.append(Form("batch kept", lambda ctx: _row_copies(ctx, x, axis, count, target, tag, role)))
    return ctx.choose(*forms)


def _channel_copies(ctx, x: Blob, axis: int, count: int, target, tag: str, role) -> Blob:
    """x viewed as (outer, 1, block, 1), a 1×1 Convolution of ones with ``count`` outputs."""
    outer, block = int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))
    if len(x.shape) == 4 and axis == 1 and x.shape[1] == 1:  # (N, 1, H, W) is such a view already
        viewed = x
    else:
        viewed = reshape(ctx, x, (outer, 1, block, 1), role=f"{tag}/as_channels")
    params = {"num_output": int(count), "bias_term": False, "kernel_size": [1]}
    ones = ctx.constant(np.ones((count, 1, 1, 1)), "copies: each block written count times")
    copied_shape = (outer, count) + viewed.shape[2:]
    copied = ctx.layer("Convolution", [viewed], {"convolution_param": params},
                       role=role if copied_shape == target else f"{tag}/copies", shape=copied_shape, weights=[ones])
    return reshape(ctx, copied, target, role=role)


def _row_copies(ctx, x: Blob, axis: int, count: int, target, tag: str, role) -> Blob:
    """The batch kept (NNIE, ncnn): x viewed as (N, A, 1, block) (A: the axes between the batch and ``axis``),
    a depthwise Deconvolution of ones with a (count, 1) kernel writes each row ``count`` times."""
    outer, block = int(np.prod(x.shape[1:axis])), int(np.prod(x.shape[axis:]))
    viewed = reshape(ctx, x, (x.shape[0], outer, 1, block), role=f"{tag}/as_rows")
    params = {"num_output": outer, "group": outer, "bias_term": False, **window((count, 1), repeated=True)}
    ones = ctx.constant(np.ones((outer, 1, count, 1)), "copies: each row written count times")
    copied_shape = (x.shape[0], outer, count, block)
    copied = ctx.layer("Deconvolution", [viewed], {"convolution_param": params},
                       role=role if copied_shape == target else f"{tag}/copies", shape=copied_shape, weights=[ones])
    return reshape(ctx, copied, target, role=role)
