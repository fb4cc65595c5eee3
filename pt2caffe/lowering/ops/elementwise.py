"""Arithmetic: add/sub/mul/div/max/min with tensors, constants and scalars (with broadcasting), and unary maths.

Caffe's Eltwise does not broadcast. A traced operand smaller than the output (a
squeeze-excite gate (N, C, 1, 1), a spatial attention map (N, 1, H, W), both sides at
once) is first repeated to the full shape by ``compose.broadcast_to`` (Deconvolution or
1×1 Convolution of ones: exact copies), then Eltwise combines same-shape blobs. Not a
two-bottom Scale (MNN's converter crashes on it) nor Tile (OpenCV cannot load it).
Constant operands become the weights of one Scale layer (``compose.scale_axes``).
"""
from __future__ import annotations

import torch

from ...errors import short
from ...graph import Const, Value
from ...net.builder import Blob
from ..compose import (ELTWISE_MAX, ELTWISE_PROD, ELTWISE_SUM, NATURAL_LOG, absolute, add_constant, broadcast_to, clamp,
                       eltwise, exponential, materialize, power, relu, reshape, scalar_of, scale_axes)
from ..registry import handles

_REVERSED = {"radd": "add", "rsub": "sub", "rmul": "mul", "rdiv": "div"}


def _block(small: tuple[int, ...], full: tuple[int, ...]) -> tuple[int, int]:
    """The axes [start, stop) of ``full`` that a broadcast operand of shape ``small`` spans."""
    padded = (1,) * (len(full) - len(small)) + tuple(small)
    spanned = [axis for axis, size in enumerate(padded) if size != 1]
    if not spanned:
        ones = [axis for axis, size in enumerate(full) if size == 1]
        start = ones[0] if ones else len(full) - 1
        return start, start + 1
    return spanned[0], spanned[-1] + 1


def _compact(const: Const) -> torch.Tensor:
    """Undo ``expand``: axes with stride 0 hold one value repeated."""
    tensor = const.tensor
    for axis, (size, stride) in enumerate(zip(tensor.shape, tensor.stride())):
        if size > 1 and stride == 0:
            tensor = tensor.narrow(axis, 0, 1)
    return tensor


def _full(ctx, x, full: tuple[int, ...], role: str):
    """The blob of a traced operand repeated to the output shape ``full``."""
    padded = (1,) * (len(full) - len(x.shape)) + tuple(x.shape)
    return broadcast_to(ctx, reshape(ctx, _blob(ctx, x), padded, role=f"{role}/rank"), full, role=f"{role}/broadcast")


def _blob(ctx, x):
    """A traced operand's blob; a blob already built (a materialized constant) as it is."""
    return x if isinstance(x, Blob) else ctx.blob(x)


def _two_values(ctx, kind: str, a, b):
    """Both operands tensors (traced values or blobs), broadcast to the op's output shape."""
    full = ctx.out_shape
    lhs = _full(ctx, a, full, "lhs") if tuple(a.shape) != full else _blob(ctx, a)
    rhs = _full(ctx, b, full, "rhs") if tuple(b.shape) != full else _blob(ctx, b)
    return _same_shape(ctx, kind, lhs, rhs)


def _same_shape(ctx, kind: str, lhs, rhs):
    if kind == "add":
        return eltwise(ctx, [lhs, rhs], ELTWISE_SUM)
    if kind == "sub":
        return eltwise(ctx, [lhs, rhs], ELTWISE_SUM, coeffs=[1, -1])
    if kind == "mul":
        return eltwise(ctx, [lhs, rhs], ELTWISE_PROD)
    if kind == "div":
        return eltwise(ctx, [lhs, power(ctx, rhs, power=-1.0, role="reciprocal")], ELTWISE_PROD)
    if kind == "maximum":
        return eltwise(ctx, [lhs, rhs], ELTWISE_MAX)
    # minimum(a, b) = −max(−a, −b)
    negated = [power(ctx, blob, scale=-1.0, role=f"negate{i}") for i, blob in enumerate((lhs, rhs))]
    return power(ctx, eltwise(ctx, negated, ELTWISE_MAX, role="max"), scale=-1.0)


def _with_scalar(ctx, kind: str, x, c: float, reverse: bool):
    blob = ctx.blob(x)
    if kind == "add":
        return power(ctx, blob, shift=c)
    if kind == "mul":
        return power(ctx, blob, scale=c)
    if kind == "sub":
        return power(ctx, blob, scale=-1.0, shift=c) if reverse else power(ctx, blob, shift=-c)
    if kind == "div":
        if c == 0:
            what = "0 / x is 0, and nan where x = 0" if reverse else "x / 0 is ±inf, and nan where x = 0"
            raise ctx.fail(f"division with a zero scalar is not supported: in torch {what}, "
                           "which Caffe's Power cannot express")
        if reverse:  # c / x = (x / c)^-1
            return power(ctx, blob, power=-1.0, scale=1.0 / c)
        return power(ctx, blob, scale=1.0 / c)
    if kind == "maximum":
        return clamp(ctx, blob, c, None)
    return clamp(ctx, blob, None, c)  # minimum


def _with_const(ctx, kind: str, x: Value, const: Const, reverse: bool):
    """A traced tensor and a constant. Arithmetic on a full-shape traced operand: the constant's block of
    axes as Scale weights (:func:`scale_axes`). A constant that broadcasts the traced operand, or
    max/min with one: the constant as a blob (:func:`materialize`) for the two-tensor path."""
    full = ctx.out_shape
    if tuple(x.shape) != full or kind not in ("add", "sub", "mul", "div"):
        tensor, derivation = const.tensor.broadcast_to(full), const.derivation
        wide = materialize(ctx, Const(tensor, const.keys, derivation), [ctx.blob(x)])
        return _two_values(ctx, kind, wide, x) if reverse else _two_values(ctx, kind, x, wide)
    compact = _compact(const)
    start, stop = _block(tuple(compact.shape), full)
    padded = compact.reshape((1,) * (len(full) - compact.dim()) + tuple(compact.shape))
    block = padded.expand(padded.shape[:start] + full[start:stop] + padded.shape[stop:]).reshape(full[start:stop])
    blob = ctx.blob(x)
    if kind in ("mul", "div"):
        if kind == "div" and reverse:  # c / x
            blob = power(ctx, blob, power=-1.0, role="reciprocal")
        array, how = (1.0 / block, "reciprocal") if kind == "div" and not reverse else (block, None)
        return scale_axes(ctx, blob, ctx.weight(const, array, how), None, start, stop)
    if kind == "sub" and reverse:
        blob = power(ctx, blob, scale=-1.0, role="negate")
    array, how = (-block, "negated") if kind == "sub" and not reverse else (block, None)
    return add_constant(ctx, blob, ctx.weight(const, array, how), start, stop - start)


@handles("add", "sub", "mul", "div", "radd", "rsub", "rmul", "rdiv", "maximum", "minimum",
         lowering="Eltwise / Power; Scale (one bottom) for constants; a broadcast traced operand is "
                   "repeated first (Deconvolution / 1×1 Convolution of ones); a constant that broadcasts the traced "
                   "operand, or max/min with one: the constant as a blob (InnerProduct bias on a batch seed)")
def binary(op, ctx, kind: str | None = None):
    """``kind`` overrides the op's own name (``torch.max(a, b)`` is a maximum)."""
    kind = kind or op.kind
    kind, reverse = _REVERSED.get(kind, kind), kind in _REVERSED
    a, b = op.arg(0, "input"), op.arg(1, "other")
    if kind in ("add", "sub") and op.arg(2, "alpha", 1) != 1:
        raise ctx.fail("add/sub with alpha is not supported")
    if kind == "div" and op.arg(2, "rounding_mode") is not None:
        raise ctx.fail("division with a rounding mode has no Caffe equivalent")
    if isinstance(a, Value) and isinstance(b, Value):
        return _two_values(ctx, kind, b, a) if reverse else _two_values(ctx, kind, a, b)
    if not isinstance(a, Value):  # the traced operand first, remembering the order
        a, b, reverse = b, a, not reverse
    constant = scalar_of(b)
    if constant is not None:
        return _with_scalar(ctx, kind, a, constant, reverse)
    if isinstance(b, Const):
        return _with_const(ctx, kind, a, b, reverse)
    raise ctx.fail(f"unsupported operand {short(b)}")


@handles("pow", lowering="Power (a traced tensor to a number); Exp (base) for torch.pow(number, tensor), as rpow")
def pow_op(op, ctx):
    base, exponent = op.arg(0, "input"), op.arg(1, "exponent")
    if isinstance(exponent, Value) and scalar_of(base) is not None:  # torch.pow(2.0, x): as 2.0 ** x
        return _number_to_the(ctx, scalar_of(base), exponent)
    if scalar_of(exponent) is None or not isinstance(base, Value):
        raise ctx.fail("only a traced tensor raised to a number, or a number raised to a traced tensor, is supported")
    return power(ctx, ctx.blob(base), power=scalar_of(exponent))


def _number_to_the(ctx, base: float, exponent: Value):
    if base <= 0:
        raise ctx.fail("only a positive number raised to a traced tensor is supported")
    return exponential(ctx, ctx.blob(exponent), base=base)


@handles("rpow", lowering="Exp (base); σ(x·ln base)/σ(−x·ln base) where the target refuses Exp (RKNN)")
def rpow(op, ctx):
    base = scalar_of(op.arg(1, "other"))
    if base is None:
        raise ctx.fail("only a positive number raised to a traced tensor is supported")
    return _number_to_the(ctx, base, op.arg(0, "input"))


def _unary_power(power_value: float = 1.0, scale: float = 1.0, shift: float = 0.0):
    def lower(op, ctx):
        return power(ctx, ctx.blob(op.arg(0, "input")), power=power_value, scale=scale, shift=shift)
    return lower


handles("sqrt", lowering="Power (0.5)")(_unary_power(0.5))
handles("rsqrt", lowering="Power (−0.5)")(_unary_power(-0.5))
handles("reciprocal", lowering="Power (−1)")(_unary_power(-1.0))
handles("square", lowering="Power (2)")(_unary_power(2.0))
handles("neg", lowering="Power (scale −1)")(_unary_power(scale=-1.0))


# 2¹⁰⁰ twice: the smallest non-zero float32 (2⁻¹⁴⁹) becomes 2⁵¹ in size, so (1 + g·|x|)⁻¹ is below 2⁻²⁵ and
# 1 minus it rounds to exactly 1 for every non-zero x (infinities on the way give 0, as wanted).
_SIGN_GAIN = 2.0 ** 100


@handles("sign", lowering="t(−x) − t(x) with t(x) = (1 + 2¹⁰⁰·2¹⁰⁰·ReLU(x))⁻¹ (ReLU, Power ×2, Eltwise): "
                          "exactly ±1 for every non-zero float32, 0 at 0")
def sign(op, ctx):
    """sign(x) = t(−x) − t(x), t(x) = 1 / (1 + g²·ReLU(x)): t is 1 at x ≤ 0 and below 2⁻²⁵ for any x > 0,
    so the difference rounds to exactly −1, 0 or 1. The ReLU comes before the gain: Caffe's ReLU gives NaN
    for −inf (max(x, 0) + 0·min(x, 0), relu_layer.cpp)."""
    x = ctx.blob(op.arg(0, "input"))
    step = {}
    for side, blob in (("positive", x), ("negative", power(ctx, x, scale=-1.0, role="negated"))):
        gained = power(ctx, relu(ctx, blob, role=f"{side}/relu"), scale=_SIGN_GAIN, role=f"{side}/gain")
        step[side] = power(ctx, gained, power=-1.0, scale=_SIGN_GAIN, shift=1.0, role=f"{side}/step")
    return eltwise(ctx, [step["negative"], step["positive"]], ELTWISE_SUM, coeffs=[1.0, -1.0])


def _plain_layer(layer_type: str, params: dict | None = None):
    def lower(op, ctx):
        return ctx.layer(layer_type, [ctx.blob(op.arg(0, "input"))], params)
    return lower


@handles("abs", lowering="AbsVal (ReLU(x) + ReLU(−x) where the target refuses AbsVal)")
def abs_(op, ctx):
    return absolute(ctx, ctx.blob(op.arg(0, "input")))


@handles("exp", lowering="Exp; σ(x)/σ(−x) where the target refuses Exp (RKNN)")
def exp(op, ctx):
    return exponential(ctx, ctx.blob(op.arg(0, "input")))


handles("log", lowering="Log (base e written out)")(_plain_layer("Log", NATURAL_LOG))
