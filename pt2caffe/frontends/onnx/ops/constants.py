"""Constant (value, value_float(s), value_int(s) from opset 12), ConstantOfShape, Range, Cast, CastLike
(ONNX Operators.md). Floating results follow the dtype the model runs in (float32, or float64 when check
measures the float32 noise); casting values computed from the input to integers is refused."""
from __future__ import annotations

import onnx
import torch

from ..registry import converts

_INTEGER = {onnx.TensorProto.INT8: torch.int8, onnx.TensorProto.UINT8: torch.uint8,
            onnx.TensorProto.INT16: torch.int16, onnx.TensorProto.INT32: torch.int32,
            onnx.TensorProto.INT64: torch.int64, onnx.TensorProto.BOOL: torch.bool,
            onnx.TensorProto.UINT16: torch.int32, onnx.TensorProto.UINT32: torch.int64,
            onnx.TensorProto.UINT64: torch.int64}
_FLOAT = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}


def _floating(ctx, tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(ctx.float_dtype) if tensor.is_floating_point() else tensor


@converts("Constant")
def constant(ctx):
    for name, make in (("value", lambda v: v), ("value_float", torch.tensor), ("value_int", torch.tensor),
                       ("value_floats", torch.tensor), ("value_ints", torch.tensor)):
        if ctx.has_attr(name):
            value = make(ctx.attr(name))
            return _floating(ctx, value.to(torch.int64) if not value.is_floating_point() and name.startswith("value_int")
                             else value)
    raise ctx.fail("only dense tensor/number constants are supported (not sparse or string ones)")


@converts("ConstantOfShape")
def constant_of_shape(ctx, shape):
    dims = ctx.const([shape], 0, "shape")
    value = ctx.attr("value")
    fill = value if value is not None else torch.zeros(1, dtype=torch.float32)
    return _floating(ctx, torch.full(list(dims), fill.reshape(-1)[0].item(), dtype=fill.dtype))


@converts("Range")
def range_(ctx, start, limit, delta):
    return _floating(ctx, torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype))


def _cast(ctx, x, to: int):
    if to in _FLOAT:
        return x.to(ctx.float_dtype) if not x.is_floating_point() or x.dtype != ctx.float_dtype else x
    if to not in _INTEGER:
        raise ctx.fail(f"cast to {onnx.TensorProto.DataType.Name(to)} is not supported")
    if not ctx.static[0] and x.is_floating_point():
        raise ctx.fail("casts values computed from the input to integers (data-dependent rounding)")
    return x.to(_INTEGER[to])


@converts("Cast")
def cast(ctx, x):
    return _cast(ctx, x, ctx.attr("to"))


@converts("CastLike")
def cast_like(ctx, x, like):
    return x.to(like.dtype)
