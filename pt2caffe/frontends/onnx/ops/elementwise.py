"""Arithmetic and logic, elementwise with numpy-style broadcasting (ONNX opset ≥ 7; torch broadcasts the
same way). Integer division truncates (ONNX Div on integers, as C)."""
from __future__ import annotations

import functools

import torch

from ..registry import converts, converts_functions


def _scalar(ctx, inputs, index):
    """A constant one-value operand as a Python number (lets the lowering use Power/Scale); else the tensor."""
    value = inputs[index]
    if ctx.static[index] and value.numel() == 1 and value.dim() <= 1:
        return value.reshape(()).item()
    return value


def _integer(*tensors) -> bool:
    return all(not t.is_floating_point() for t in tensors if isinstance(t, torch.Tensor))


@converts("Add")
def add(ctx, a, b):
    return a + b


@converts("Sub")
def sub(ctx, a, b):
    return a - b


@converts("Mul")
def mul(ctx, a, b):
    return a * b


@converts("Div")
def div(ctx, a, b):
    if _integer(a, b):
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


@converts("Mod")
def mod(ctx, a, b):
    return torch.fmod(a, b) if ctx.attr("fmod", 0) else torch.remainder(a, b)


@converts("Pow")
def power(ctx, x, exponent):
    if not ctx.static[1] and not ctx.static[0]:
        raise ctx.fail("both base and exponent are computed from the input: only a power by a constant is supported")
    base = _scalar(ctx, [x, exponent], 0)
    if not isinstance(base, torch.Tensor) and not ctx.static[1]:
        return base ** exponent  # a number to a traced power
    return torch.pow(x, _scalar(ctx, [x, exponent], 1))


@converts("Shrink")
def shrink(ctx, x):
    """x − bias where x > lambd, x + bias where x < −lambd, else 0: with bias = lambd (soft shrinkage) that
    is relu(x − lambd) − relu(−x − lambd); other biases need a step function Caffe has no exact form for."""
    lambd, bias = ctx.attr("lambd", 0.5), ctx.attr("bias", 0.0)
    if bias != lambd:
        raise ctx.fail(f"bias {bias} ≠ lambd {lambd}: only soft shrinkage (bias = lambd) is supported")
    return torch.relu(x - lambd) - torch.relu(-x - lambd)


converts_functions(__name__, {
    "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt, "Abs": torch.abs, "Neg": torch.neg,
    "Reciprocal": torch.reciprocal, "Floor": torch.floor, "Ceil": torch.ceil, "Round": torch.round, "Sign": torch.sign,
    "Sin": torch.sin, "Cos": torch.cos, "Not": torch.logical_not, "IsNaN": torch.isnan})
converts_functions(__name__, {
    "Equal": torch.eq, "Less": torch.lt, "LessOrEqual": torch.le, "Greater": torch.gt, "GreaterOrEqual": torch.ge,
    "And": torch.logical_and, "Or": torch.logical_or, "Xor": torch.logical_xor}, arguments=2)


def _variadic(fn):
    return lambda ctx, *xs: functools.reduce(fn, xs)


converts("Sum")(_variadic(torch.add))
converts("Max")(_variadic(torch.maximum))
converts("Min")(_variadic(torch.minimum))


@converts("Mean")
def mean(ctx, *xs):
    return functools.reduce(torch.add, xs) / len(xs) if len(xs) > 1 else xs[0]




@converts("Where")
def where(ctx, condition, a, b):
    """Computed as is on constants. With a constant condition and an operand computed from the input:
    a·mask + b·(1 − mask), exact for finite values (one term is 0); a condition computed from the input's
    values (a comparison) has no exact Caffe form, and an infinite constant would make 0·∞ = NaN: refused."""
    if all(ctx.static):
        return torch.where(condition, a, b)
    if not ctx.static[0]:
        raise ctx.fail("its condition is computed from the input's values: comparisons have no exact Caffe form")
    for index, operand in ((1, a), (2, b)):
        if ctx.static[index] and operand.is_floating_point() and not torch.isfinite(operand).all():
            raise ctx.fail(f"input {index} holds infinite values: use a large finite value instead")
    mask = condition.to(ctx.float_dtype)
    return a * mask + b * (1.0 - mask)
