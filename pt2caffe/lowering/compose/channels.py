"""A block of axes brought onto the channel axis with the batch axis left where it is.

Many compositions act on the channel axis of a 4-D blob (a Scale per channel, a 1×1 Convolution mixing
channels) and reach another axis by a view that folds the leading axes into the first one:
(−1, block, rest, 1). NNIE and ncnn refuse any layer that changes axis 0, the batch (HiSVP guide;
caffe2ncnn drops it). :func:`block_on_channels` reaches the block another way: the blob is viewed as
(N, A, B, R) (A: the axes between the batch and the block, B: the block, R: the axes after it; a Reshape
moves no data), B is moved onto the channels by Permutes, the layers run there, and the Permutes are
undone:

* A = 1: the view (N, B, R, 1) has B on the channels already (no Permute);
* "swap": Permute (0, 2, 1, 3) exchanges A and B, and again after (ncnn takes any order that keeps
  axis 0 first);
* "rotations": Permute (0, 2, 3, 1) (the one order nnie_mapper takes) turns (N, A, B, R) into
  (N, B, R, A); two more after the layers turn it back.

``ctx.choose`` takes the cheapest the target accepts. Permute only moves values: exact.
"""
from __future__ import annotations

import math
from typing import Callable

from ...net.builder import Blob
from ..choice import Form
from .layout import permute, reshape

SWAP = [0, 2, 1, 3]
ROTATE = [0, 2, 3, 1]


def block_on_channels(ctx, x: Blob, start: int, stop: int, apply: Callable[[object, Blob], Blob],
                      shape: tuple[int, ...], *, role: str | None = None) -> Blob:
    """``apply(ctx, blob)`` run on x's axes [start, stop) (1 ≤ start < stop ≤ rank) as the channels of a
    4-D blob (N, B, ·, ·) with x's batch axis in place; it returns (N, B', ·, ·) (same last two axes).
    The result is viewed as ``shape`` (x.shape with the block replaced by B' values)."""
    if start < 1:
        raise ValueError("the block must leave axis 0 (the batch) out")
    tag = role or "block"
    batch, outer = x.shape[0], math.prod(x.shape[1:start])
    block, inner = math.prod(x.shape[start:stop]), math.prod(x.shape[stop:])
    if outer == 1:
        moved = apply(ctx, reshape(ctx, x, (batch, block, inner, 1), role=f"{tag}/on_channels"))
        return reshape(ctx, moved, shape, role=role)
    view = reshape(ctx, x, (batch, outer, block, inner), role=f"{tag}/as_4d")
    return ctx.choose(Form("swap", lambda ctx: _by_swaps(ctx, view, apply, shape, tag, role)),
                      Form("rotations", lambda ctx: _by_rotations(ctx, view, apply, shape, tag, role)))


def _by_swaps(ctx, view: Blob, apply, shape, tag: str, role: str | None) -> Blob:
    moved = apply(ctx, permute(ctx, view, SWAP, role=f"{tag}/to_channels"))
    return reshape(ctx, permute(ctx, moved, SWAP, role=f"{tag}/back"), shape, role=role)


def _by_rotations(ctx, view: Blob, apply, shape, tag: str, role: str | None) -> Blob:
    moved = apply(ctx, permute(ctx, view, ROTATE, role=f"{tag}/to_channels"))
    back = permute(ctx, permute(ctx, moved, ROTATE, role=f"{tag}/back0"), ROTATE, role=f"{tag}/back1")
    return reshape(ctx, back, shape, role=role)
