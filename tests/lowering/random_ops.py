"""One op maker per handler family (pt2caffe/lowering/ops/<family>.py) for random_graphs.

A maker(rng, values) returns a Step applying one op of its family, with arguments drawn from ``rng``, to
some of ``values`` (the latest likelier), or None when nothing fits; random_graphs runs it on the values and
keeps it only if PyTorch accepts it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Step:
    family: str
    text: str  # the call, for reports ("v3 = …")
    call: Callable  # call(module, values) -> tensor
    module: nn.Module | None = None


class Constant(nn.Module):
    """A constant operand as a buffer (``.double()`` converts it with the rest)."""

    def __init__(self, tensor: torch.Tensor):
        super().__init__()
        self.register_buffer("value", tensor)


def _int(rng, low: int, high: int) -> int:
    """An integer in [low, high)."""
    return int(rng.integers(low, high))


def _pick(rng, items):
    return items[_int(rng, 0, len(items))]


def _source(rng, values, ranks=(2, 3, 4)) -> int | None:
    """The index of a value of one of ``ranks``, the latest ones likelier; None when there is none."""
    found = [i for i, value in enumerate(values) if value.dim() in ranks]
    if not found:
        return None
    weights = np.array([2.0 ** (i - len(values)) for i in found]) + 0.05
    return int(rng.choice(found, p=weights / weights.sum()))


def _partner(rng, values, i) -> int | None:
    """Another value of the same shape as values[i]."""
    same = [j for j, value in enumerate(values) if j != i and value.shape == values[i].shape]
    return _pick(rng, same) if same else None


def _unary(family: str, text: str, i: int, fn, module=None) -> Step:
    return Step(family, text.replace("{0}", "{}").replace("{}", f"v{i}"), lambda m, v: fn(m, v[i]), module)


def conv(rng, values):
    i = _source(rng, values, (3, 4))
    if i is None:
        return None
    channels, spatial = values[i].shape[1], values[i].dim() - 2
    kernel, stride = _int(rng, 1, 4), _int(rng, 1, 3)
    pad, dilation = _int(rng, 0, kernel // 2 + 1), int(rng.choice([1, 1, 2]))
    groups = channels if rng.random() < 0.3 else 1
    out = channels * _int(rng, 1, 3) if groups > 1 else _int(rng, 1, 9)
    bias = bool(rng.random() < 0.7)
    if rng.random() < 0.3:
        kind = (nn.ConvTranspose1d, nn.ConvTranspose2d)[spatial - 1]
        extra = _int(rng, 0, stride) if dilation == 1 else 0
        module = kind(channels, out, kernel, stride, pad, output_padding=extra, groups=groups, dilation=dilation,
                      bias=bias)
    else:
        kind = (nn.Conv1d, nn.Conv2d)[spatial - 1]
        module = kind(channels, out, kernel, stride, pad, dilation=dilation, groups=groups, bias=bias)
    return _unary("conv", f"{module}({{}})", i, lambda m, x: m(x), module)


def linear(rng, values):
    i = _source(rng, values)
    module = nn.Linear(values[i].shape[-1], _int(rng, 1, 12), bias=bool(rng.random() < 0.7))
    return _unary("linear", f"{module}({{}})", i, lambda m, x: m(x), module)


ACTIVATIONS = {
    "relu": F.relu, "relu6": F.relu6, "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "elu": F.elu, "selu": F.selu,
    "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu, "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid, "mish": F.mish, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "softplus": F.softplus, "clamp": lambda x: x.clamp(-0.5, 0.7), "hardtanh": F.hardtanh,
}


def activation(rng, values):
    i = _source(rng, values)
    kind = _pick(rng, sorted(ACTIVATIONS) + ["softmax", "log_softmax", "prelu"])
    if kind in ("softmax", "log_softmax"):
        dim, fn = _int(rng, -values[i].dim(), values[i].dim()), getattr(F, kind)
        return _unary("activation", f"{kind}({{}}, dim={dim})", i, lambda m, x: fn(x, dim))
    if kind == "prelu":
        module = nn.PReLU(values[i].shape[1] if rng.random() < 0.5 else 1)
        with torch.no_grad():
            module.weight.uniform_(0.05, 0.4)
        return _unary("activation", "PReLU({})", i, lambda m, x: m(x), module)
    fn = ACTIVATIONS[kind]
    return _unary("activation", f"{kind}({{}})", i, lambda m, x: fn(x))


UNARY = {  # kept within the ops' domains
    "abs": torch.abs, "exp": lambda x: torch.exp(x.clamp(-5, 5)), "log": lambda x: torch.log(x.abs() + 0.5),
    "neg": torch.neg, "square": torch.square, "sqrt": lambda x: torch.sqrt(x.abs() + 0.1),
    "rsqrt": lambda x: torch.rsqrt(x.abs() + 0.5), "reciprocal": lambda x: torch.reciprocal(x.abs() + 0.5),
    "pow": lambda x: torch.pow(x, 3), "rpow": lambda x: 2.0 ** x.clamp(-4, 4),
    "pow_number": lambda x: torch.pow(1.5, x.clamp(-4, 4)), "add_number": lambda x: x + 0.25,
    "mul_number": lambda x: 1.5 * x,
}
BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "maximum": torch.maximum, "minimum": torch.minimum,
          "div": lambda a, b: a / (b.abs() + 1)}


def elementwise(rng, values):
    i = _source(rng, values)
    kind = _pick(rng, sorted(UNARY) + sorted(BINARY) + ["constant"])
    j = _partner(rng, values, i)
    if kind in BINARY and j is not None:
        fn = BINARY[kind]
        return Step("elementwise", f"{kind}(v{i}, v{j})", lambda m, v: fn(v[i], v[j]))
    if kind == "constant" and values[i].dim() >= 2:
        shape = [d if rng.random() < 0.5 else 1 for d in values[i].shape]
        constant = Constant(torch.randn(shape[1:] if rng.random() < 0.5 else shape))
        return _unary("elementwise", f"{{}} * constant{list(constant.value.shape)}", i, lambda m, x: x * m.value,
                      constant)
    fn = UNARY.get(kind, torch.abs)
    return _unary("elementwise", f"{kind if kind in UNARY else 'abs'}({{}})", i, lambda m, x: fn(x))


def _randomized(module: nn.Module) -> nn.Module:
    """Affine parameters and running statistics away from their defaults (1, 0)."""
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if name in ("weight", "running_var"):
                tensor.uniform_(0.5, 1.5)
            elif name in ("bias", "running_mean"):
                tensor.normal_(0, 0.1)
    return module


def normalization(rng, values):
    i = _source(rng, values)
    x = values[i]
    kind = _pick(rng, ["batch", "group", "instance", "layer", "lrn"])
    if kind == "layer":
        count = _int(rng, 1, min(3, x.dim()) + 1)
        module = _randomized(nn.LayerNorm(tuple(x.shape[-count:])))
    elif x.dim() not in (3, 4) or (kind == "lrn" and x.dim() != 4):
        return None
    elif kind == "batch":
        module = _randomized((nn.BatchNorm1d if x.dim() == 3 else nn.BatchNorm2d)(x.shape[1]))
    elif kind == "group":
        groups = [g for g in range(1, x.shape[1] + 1) if x.shape[1] % g == 0]
        module = _randomized(nn.GroupNorm(_pick(rng, groups), x.shape[1]))
    elif kind == "instance":
        module = _randomized((nn.InstanceNorm1d if x.dim() == 3 else nn.InstanceNorm2d)(x.shape[1],
                                                                                         affine=rng.random() < 0.5))
    else:
        module = nn.LocalResponseNorm(int(rng.choice([1, 3, 5])), k=float(rng.choice([1.0, 2.0])))
    return _unary("normalization", f"{module}({{}})", i, lambda m, t: m(t), module)


def reduction(rng, values):
    i = _source(rng, values, (3, 4))
    if i is None:
        return None
    kind = _pick(rng, ["sum", "mean", "amax", "amin", "max"])
    dims = sorted({_int(rng, 1, values[i].dim()) for _ in range(_int(rng, 1, 3))})
    keep = bool(rng.random() < 0.5)
    if kind == "max":
        return _unary("reduction", f"{{}}.max({dims[0]}, keepdim={keep}).values", i,
                      lambda m, x: x.max(dims[0], keepdim=keep).values)
    fn = getattr(torch, kind)
    return _unary("reduction", f"{kind}({{}}, {dims}, keepdim={keep})", i, lambda m, x: fn(x, dims, keepdim=keep))


MAKERS = {maker.__name__: maker for maker in (conv, linear, activation, elementwise, normalization, reduction)}
