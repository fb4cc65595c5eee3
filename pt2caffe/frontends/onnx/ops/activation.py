"""Activations and softmax (semantics: ONNX Operators.md). Softmax/LogSoftmax before opset 13 coerce the
input to 2-D at ``axis`` (default 1): the product of the axes before it by the product of the rest, softmax
over the second; from 13 over the one ``axis`` (default −1). Clip takes min/max as attributes before 11, as
optional inputs from 11. HardSigmoid is max(0, min(1, alpha·x + beta)); Selu and Elu with their attributes;
PRelu's slope broadcasts unidirectionally (opset ≥ 7), per channel in files converted from opset 6."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..registry import converts, converts_functions

converts_functions(__name__, {"Relu": F.relu, "Sigmoid": torch.sigmoid, "HardSwish": F.hardswish,
                              "Tanh": torch.tanh, "Softplus": F.softplus, "Erf": torch.erf, "Mish": F.mish})


@converts("LeakyRelu")
def leaky_relu(ctx, x):
    return F.leaky_relu(x, ctx.attr("alpha", 0.01))


@converts("PRelu")
def prelu(ctx, x, slope):
    if slope.numel() == 1:
        return F.prelu(x, slope.reshape(1))
    channels = x.shape[1] if x.dim() > 1 else 1
    if x.dim() >= 2 and slope.numel() == channels and (slope.dim() == 1 and x.dim() == 2 or
                                                      slope.dim() >= 1 and slope.shape[0] == channels
                                                      and slope.dim() == x.dim() - 1):
        return F.prelu(x, slope.reshape(channels))
    if slope.dim() == 1 and slope.numel() == channels and x.dim() > 2 and slope.numel() != x.shape[-1]:
        return F.prelu(x, slope)  # opset < 7 (converted): one slope per channel, not numpy broadcasting
    return F.relu(x) - slope * F.relu(-x)


@converts("Elu")
def elu(ctx, x):
    return F.elu(x, ctx.attr("alpha", 1.0))


_SELU_ALPHA, _SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


@converts("Selu")
def selu(ctx, x):
    alpha, gamma = ctx.attr("alpha", _SELU_ALPHA), ctx.attr("gamma", _SELU_GAMMA)
    if math.isclose(alpha, _SELU_ALPHA, rel_tol=1e-7) and math.isclose(gamma, _SELU_GAMMA, rel_tol=1e-7):
        return F.selu(x)
    return F.elu(x, alpha) * gamma


@converts("Celu")
def celu(ctx, x):
    return F.celu(x, ctx.attr("alpha", 1.0))


@converts("Clip")
def clip(ctx, x, low=None, high=None):
    if ctx.opset < 11:
        low, high = ctx.attr("min"), ctx.attr("max")
    else:
        low, high = ctx.const([x, low, high], 1, "min"), ctx.const([x, low, high], 2, "max")
    if low is None and high is None:
        return x
    return torch.clamp(x, low, high)


@converts("HardSigmoid")
def hard_sigmoid(ctx, x):
    alpha, beta = ctx.attr("alpha", 0.2), ctx.attr("beta", 0.5)
    if math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5:
        return F.hardsigmoid(x)
    return torch.clamp(x * alpha + beta, 0.0, 1.0)


@converts("Softsign")
def softsign(ctx, x):
    return x / (torch.abs(x) + 1)


@converts("Gelu")
def gelu(ctx, x):
    return F.gelu(x, approximate=ctx.attr("approximate", "none"))


def _coerced(ctx, x, fn):
    """Softmax-family before opset 13: the input is viewed as 2-D (prod of axes before ``axis``, the rest)."""
    axis = ctx.attr("axis", 1 if ctx.opset < 13 else -1)
    if ctx.opset >= 13:
        return fn(x, axis)
    axis = axis % x.dim() if x.dim() else 0
    shape = x.shape
    flat = x.reshape(math.prod(shape[:axis]), math.prod(shape[axis:]))
    return fn(flat, 1).reshape(shape)


@converts("Softmax")
def softmax(ctx, x):
    return _coerced(ctx, x, lambda t, axis: F.softmax(t, axis))


@converts("LogSoftmax")
def log_softmax(ctx, x):
    return _coerced(ctx, x, lambda t, axis: F.log_softmax(t, axis))
