"""ReduceMean/Sum/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp (ONNX Operators.md): ``axes`` is an
attribute before opset 18 (ReduceSum: before 13) and an optional input from then on; no axes reduces every
axis, unless noop_with_empty_axes (then the input is returned); keepdims (default 1)."""
from __future__ import annotations

import torch

from ..registry import converts

_AXES_AS_INPUT = {"ReduceSum": 13}  # the others moved axes to an input in opset 18


def _axes(ctx, x, axes_input):
    if ctx.opset >= _AXES_AS_INPUT.get(ctx.op_type, 18):
        axes = ctx.const([x, axes_input], 1, "axes")
    else:
        axes = ctx.attr("axes")
    if not axes:
        return None if ctx.attr("noop_with_empty_axes", 0) else tuple(range(x.dim()))
    return tuple(sorted(a % x.dim() for a in axes))


_REDUCERS = {
    "ReduceMean": lambda x, axes, keep: torch.mean(x, axes, keep),
    "ReduceSum": lambda x, axes, keep: torch.sum(x, axes, keep),
    "ReduceMax": lambda x, axes, keep: torch.amax(x, axes, keep),
    "ReduceMin": lambda x, axes, keep: torch.amin(x, axes, keep),
    "ReduceSumSquare": lambda x, axes, keep: torch.sum(x * x, axes, keep),
    "ReduceL1": lambda x, axes, keep: torch.sum(torch.abs(x), axes, keep),
    "ReduceL2": lambda x, axes, keep: torch.sqrt(torch.sum(x * x, axes, keep)),
    "ReduceLogSumExp": lambda x, axes, keep: torch.log(torch.sum(torch.exp(x), axes, keep)),
    "ReduceLogSum": lambda x, axes, keep: torch.log(torch.sum(x, axes, keep)),
    "ReduceProd": lambda x, axes, keep: _prod(x, axes, keep),
}


def _prod(x, axes, keep):
    for axis in reversed(axes):
        x = torch.prod(x, axis, keepdim=keep)
    return x


def _reduce(ctx, x, axes_input=None):
    axes = _axes(ctx, x, axes_input)
    if axes is None:
        return x
    return _REDUCERS[ctx.op_type](x, axes, bool(ctx.attr("keepdims", 1)))


converts(*_REDUCERS)(_reduce)
