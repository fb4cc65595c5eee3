"""Traced values that are indices into another value: pooling masks (max_pool2d's second output) and argmax-like
outputs (max/min over a dim, argmax/argmin). The report marks their blobs so that ``check`` compares them
tie-aware: an index is right when the value it picks is within noise of the one PyTorch picks."""
from __future__ import annotations

from ..graph import Value
from ..lowering.compose import normalize_dim, pair

ARGMAX_LIKE = {"max": 1, "min": 1, "argmax": 0, "argmin": 0}  # op kind → position of its index output


def index_info(value: Value) -> dict | None:
    """{"kind": "window", "of": value index, "kernel"/"stride"/"padding": [h, w]} for a pooling mask (flat
    h·W + w in the pooled input's plane), {"kind": "axis", "of": value index, "axis": d} for an index along
    axis d (the axis kept or dropped as the op does), None for any other value."""
    op = value.producer
    if op is None or not op.outputs:
        return None
    x = op.arg(0, "input")
    if not isinstance(x, Value):
        return None
    if op.kind == "max_pool2d" and len(op.outputs) == 2 and value is op.outputs[1]:
        kernel = pair(op.arg(1, "kernel_size"))
        return {"kind": "window", "of": x.index, "kernel": list(kernel),
                "stride": list(pair(op.arg(2, "stride") or kernel)), "padding": list(pair(op.arg(3, "padding", 0)))}
    position = ARGMAX_LIKE.get(op.kind)
    if position is None or value is not op.outputs[min(position, len(op.outputs) - 1)] or value.dtype.is_floating_point:
        return None
    dim = op.arg(1, "dim")
    if dim is None or not isinstance(dim, int):  # over the flattened tensor
        return {"kind": "flat", "of": x.index}
    return {"kind": "axis", "of": x.index, "axis": normalize_dim(dim, len(x.shape)),
            "keepdim": bool(op.arg(2, "keepdim", False))}
