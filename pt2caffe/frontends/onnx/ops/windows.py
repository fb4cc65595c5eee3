"""Padding of windowed ops (Conv, pooling): ONNX pads/auto_pad to torch's symmetric padding + an explicit pad."""
from __future__ import annotations

import math

import torch.nn.functional as F


def window_pads(ctx, spatial: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[tuple[int, int]]:
    """(begin, end) per spatial axis from ``pads`` or ``auto_pad`` (ONNX Conv/pool spec)."""
    auto = ctx.attr("auto_pad", "NOTSET")
    rank = len(spatial)
    if auto in ("NOTSET", ""):
        pads = ctx.attr("pads", [0] * (2 * rank))
        return [(pads[i], pads[i + rank]) for i in range(rank)]
    if auto == "VALID":
        return [(0, 0)] * rank
    result = []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        result.append((small, big) if auto == "SAME_UPPER" else (big, small))
    return result


def split_padding(x, pads: list[tuple[int, int]], mode: str = "constant", value: float = 0.0):
    """(x padded explicitly where begin ≠ end, the symmetric padding left to the op): ``value`` (zeros), or the
    edge value (``mode="replicate"``: for max pooling, where a window reaching into the padding also holds the
    edge)."""
    symmetric = [min(b, e) for b, e in pads]
    extra = [(b - s, e - s) for (b, e), s in zip(pads, symmetric)]
    if any(b or e for b, e in extra):
        flat = [p for b, e in reversed(extra) for p in (b, e)]
        x = F.pad(x, flat, mode=mode, value=value if mode == "constant" else None)
    return x, symmetric
