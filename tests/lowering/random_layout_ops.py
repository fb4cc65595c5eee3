"""Op makers for the families that move, cut, join, resize or pool values (see random_ops for the contract)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from random_ops import Constant, Step, _int, _partner, _pick, _source, _unary


def pooling(rng, values):
    i = _source(rng, values, (4,))
    if i is None:
        return None
    kind = _pick(rng, ["max", "avg", "adaptive_max", "adaptive_avg"])
    if kind.startswith("adaptive"):
        size = tuple(_int(rng, 1, values[i].shape[axis] + 2) for axis in (2, 3))
        fn = getattr(F, f"{kind}_pool2d")
        return _unary("pooling", f"{fn.__name__}({{}}, {size})", i, lambda m, x: fn(x, size))
    kernel = (_int(rng, 1, 4), _int(rng, 1, 4))
    stride = (_int(rng, 1, 4), _int(rng, 1, 4))
    pad = tuple(_int(rng, 0, k // 2 + 1) for k in kernel)
    ceil = bool(rng.random() < 0.4)
    if kind == "max":
        return _unary("pooling", f"max_pool2d({{}}, {kernel}, {stride}, {pad}, ceil_mode={ceil})", i,
                      lambda m, x: F.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil))
    counted = bool(rng.random() < 0.5)
    return _unary("pooling", f"avg_pool2d({{}}, {kernel}, {stride}, {pad}, ceil_mode={ceil}, "
                             f"count_include_pad={counted})", i,
                  lambda m, x: F.avg_pool2d(x, kernel, stride, pad, ceil_mode=ceil, count_include_pad=counted))


def pooling3d(rng, values):
    i = _source(rng, values, (4,))
    if i is None:
        return None
    kernel = (_int(rng, 1, 3), _int(rng, 1, 4), _int(rng, 1, 4))
    stride = (_int(rng, 1, 3), _int(rng, 1, 3), _int(rng, 1, 3))
    fn = _pick(rng, [F.max_pool3d, F.avg_pool3d])
    return _unary("pooling3d", f"{fn.__name__}({{}}, {kernel}, {stride})", i, lambda m, x: fn(x, kernel, stride))


def padding(rng, values):
    i = _source(rng, values)
    mode = _pick(rng, ["constant", "constant", "reflect", "replicate", "circular"])
    rank = values[i].dim()
    if mode != "constant" and rank not in (3, 4):
        return None
    pads = [_int(rng, -1 if mode == "constant" else 0, 3) for _ in range(2 * min(2, rank - 1))]
    options = {"mode": mode, **({"value": float(rng.choice([0.0, 0.0, 0.5]))} if mode == "constant" else {})}
    return _unary("padding", f"pad({{}}, {pads}, **{options})", i, lambda m, x: F.pad(x, pads, **options))


def resize(rng, values):
    i = _source(rng, values, (4,))
    if i is None:
        return None
    x = values[i]
    kind = _pick(rng, ["nearest", "bilinear", "bicubic", "area", "shuffle", "unshuffle"])
    if kind == "shuffle":
        return None if x.shape[1] % 4 else _unary("resize", "pixel_shuffle({}, 2)", i, lambda m, t: F.pixel_shuffle(t, 2))
    if kind == "unshuffle":
        return None if x.shape[2] % 2 or x.shape[3] % 2 else \
            _unary("resize", "pixel_unshuffle({}, 2)", i, lambda m, t: F.pixel_unshuffle(t, 2))
    options = ({"scale_factor": float(rng.choice([0.5, 1.5, 2.0, 3.0]))} if rng.random() < 0.5
               else {"size": (_int(rng, 1, 12), _int(rng, 1, 12))})
    if kind in ("bilinear", "bicubic"):
        options["align_corners"] = bool(rng.random() < 0.5)
    return _unary("resize", f"interpolate({{}}, mode={kind!r}, **{options})", i,
                  lambda m, t: F.interpolate(t, mode=kind, **options))


def _view(rng, i, x):
    rest = math.prod(x.shape[1:])
    first = _pick(rng, [d for d in range(1, rest + 1) if rest % d == 0])
    shape = (x.shape[0], first, rest // first) if rng.random() < 0.5 else (x.shape[0], first, 1, rest // first)
    return _unary("shape", f"{{}}.reshape{shape}", i, lambda m, t: t.reshape(shape))


def shape(rng, values):
    i = _source(rng, values)
    x, rank = values[i], values[i].dim()
    kind = _pick(rng, ["view", "permute", "transpose", "flatten", "unsqueeze", "squeeze", "cat", "stack", "chunk",
                       "split", "expand", "repeat"])
    ones = [axis for axis in range(1, rank) if x.shape[axis] == 1]
    if kind == "view":
        return _view(rng, i, x)
    if kind == "permute":
        order = [int(a) for a in rng.permutation(rank)] if rng.random() < 0.2 else \
            [0] + [int(a) for a in rng.permutation(range(1, rank))]
        return _unary("shape", f"{{}}.permute{tuple(order)}", i, lambda m, t: t.permute(order))
    if kind == "transpose":
        a, b = (int(d) for d in rng.choice(rank, 2, replace=False))
        return _unary("shape", f"{{}}.transpose({a}, {b})", i, lambda m, t: t.transpose(a, b))
    if kind == "flatten" and rank >= 3:
        return _unary("shape", "{}.flatten(1)", i, lambda m, t: t.flatten(1))
    if kind == "unsqueeze" and rank < 4:
        axis = _int(rng, 1, rank + 1)
        return _unary("shape", f"{{}}.unsqueeze({axis})", i, lambda m, t: t.unsqueeze(axis))
    if kind == "squeeze" and ones:
        return _unary("shape", f"{{}}.squeeze({ones[0]})", i, lambda m, t: t.squeeze(ones[0]))
    if kind in ("cat", "stack"):
        j = _partner(rng, values, i)
        if j is None:
            return None
        axis, fn = _int(rng, 1, rank + (kind == "stack")), getattr(torch, kind)
        return Step("shape", f"{kind}((v{i}, v{j}), {axis})", lambda m, v: fn((v[i], v[j]), axis))
    if kind in ("chunk", "split"):
        axis = _int(rng, 1, rank)
        if x.shape[axis] < 2:
            return None
        parts = _int(rng, 2, min(4, x.shape[axis]) + 1)
        sizes = [1] * (parts - 1) + [x.shape[axis] - parts + 1]
        which = _int(rng, 0, len(x.chunk(parts, axis)) if kind == "chunk" else parts)
        if kind == "chunk":
            return _unary("shape", f"{{}}.chunk({parts}, {axis})[{which}]", i, lambda m, t: t.chunk(parts, axis)[which])
        return _unary("shape", f"{{}}.split({sizes}, {axis})[{which}]", i, lambda m, t: t.split(sizes, axis)[which])
    if kind == "expand" and ones:
        target = list(x.shape)
        target[ones[0]] = _int(rng, 2, 5)
        return _unary("shape", f"{{}}.expand{tuple(target)}", i, lambda m, t: t.expand(target))
    if kind == "repeat":
        times = [1] + [_int(rng, 1, 3) for _ in range(rank - 1)]
        return _unary("shape", f"{{}}.repeat{tuple(times)}", i, lambda m, t: t.repeat(times))
    return None


def indexing(rng, values):
    i = _source(rng, values)
    axis = _int(rng, 1, values[i].dim())
    size = values[i].shape[axis]
    if rng.random() < 0.3:
        index = (slice(None),) * axis + (_int(rng, -size, size),)
        return _unary("indexing", f"{{}}[{index}]", i, lambda m, t: t[index])
    start = _int(rng, 0, size)
    stop, step = _int(rng, start + 1, size + 1), int(rng.choice([1, 1, 2, 3]))
    if rng.random() < 0.3:  # an index assignment (steps of 1: PyTorch's views with a step are refused)
        index = (slice(None),) * axis + (slice(start, stop),)

        def assign(m, t):
            y = t * 1.0
            y[index] = torch.tanh(y[index])
            return y
        return _unary("indexing", f"{{}}[{index}] = tanh(…)", i, assign)
    index = (slice(None),) * axis + (slice(start, stop, step),)
    return _unary("indexing", f"{{}}[{index}]", i, lambda m, t: t[index])


def matmul(rng, values):
    i = _source(rng, values)
    x = values[i]
    kind = _pick(rng, ["constant", "self", "bmm", "einsum"])
    if kind == "constant":
        weight = Constant(torch.randn(x.shape[-1], _int(rng, 1, 8)) / math.sqrt(x.shape[-1]))
        return _unary("matmul", f"{{}} @ constant{list(weight.value.shape)}", i, lambda m, t: t @ m.value, weight)
    if kind == "self":
        return _unary("matmul", "{0} @ {0}.mT", i, lambda m, t: t @ t.transpose(-1, -2))
    if kind == "bmm" and x.dim() == 3:
        return _unary("matmul", "bmm({0}.mT, {0})", i, lambda m, t: torch.bmm(t.transpose(1, 2), t))
    if kind == "einsum" and x.dim() == 4:
        return _unary("matmul", "einsum('nchw,nchv->nwv', {0}, {0})", i,
                      lambda m, t: torch.einsum("nchw,nchv->nwv", t, t))
    return None


def attention(rng, values):
    i = _source(rng, values, (3, 4))
    if i is None:
        return None
    x = values[i]
    if x.dim() == 4:
        causal = bool(rng.random() < 0.3)
        return _unary("attention", f"scaled_dot_product_attention({{0}}, {{0}}, {{0}}, is_causal={causal})", i,
                      lambda m, t: F.scaled_dot_product_attention(t, t, t, is_causal=causal))
    heads = _pick(rng, [h for h in (1, 2, 4) if x.shape[-1] % h == 0])
    module = nn.MultiheadAttention(x.shape[-1], heads, batch_first=True)
    return _unary("attention", f"MultiheadAttention({x.shape[-1]}, {heads})({{0}}, {{0}}, {{0}})", i,
                  lambda m, t: m(t, t, t)[0], module)


def recurrent(rng, values):
    i = _source(rng, values, (3,))
    if i is None:
        return None
    kind = _pick(rng, [nn.LSTM, nn.GRU, nn.RNN])
    module = kind(values[i].shape[-1], _int(rng, 1, 8), num_layers=_int(rng, 1, 3),
                  batch_first=bool(rng.random() < 0.5), bidirectional=bool(rng.random() < 0.4))
    return _unary("recurrent", f"{module}({{}})", i, lambda m, t: m(t)[0], module)


def ssd(rng, values):
    i = _source(rng, values, (4,))
    return None if i is None else _unary("ssd", "normalize({}, dim=1)", i, lambda m, t: F.normalize(t, dim=1))


def unpooling(rng, values):
    i = _source(rng, values, (4,))
    if i is None:
        return None
    kernel = _int(rng, 1, 4)
    stride = kernel if rng.random() < 0.5 else _int(rng, 1, kernel + 1)  # overlapping windows when below
    pad = _int(rng, 0, kernel // 2 + 1)

    def unpool(m, t):
        pooled, indices = F.max_pool2d(t, kernel, stride, pad, return_indices=True)
        return F.max_unpool2d(torch.tanh(pooled * 3), indices, kernel, stride, pad, output_size=t.shape[2:])
    return _unary("unpooling", f"max_unpool2d(tanh(3 · max_pool2d({{}}, {kernel}, {stride}, {pad}, "
                               "return_indices=True)))", i, unpool)


def sampling(rng, values):
    i = _source(rng, values, (4,))
    if i is None or values[i].shape[1] < 2:
        return None
    padding, align = _pick(rng, ["zeros", "border"]), bool(rng.random() < 0.5)

    def sample(m, t):  # the grid from the values themselves, some points off the image
        grid = torch.tanh(F.avg_pool2d(t[:, :2], 2, ceil_mode=True) * 1.5).permute(0, 2, 3, 1)
        return F.grid_sample(t, grid, padding_mode=padding, align_corners=align)
    return _unary("sampling", f"grid_sample({{}}, tanh(1.5 · avg_pool2d({{}}[:, :2], 2)), {padding!r}, "
                              f"align_corners={align})", i, sample)


def selection(rng, values):
    i = _source(rng, values, (2, 3, 4))
    if i is None:
        return None
    axis, kind = _int(rng, 1, values[i].dim()), _pick(rng, ["argmax", "argmin", "max", "one_hot", "scatter"])
    size = values[i].shape[axis]
    if kind in ("argmax", "argmin"):
        fn = getattr(torch, kind)
        return _unary("selection", f"{kind}({{}}, {axis}).float()", i, lambda m, t: fn(t, axis).float())
    if kind == "max":
        return _unary("selection", f"{{0}}.max({axis}).values + {{0}}.max({axis}).indices", i,
                      lambda m, t: t.max(axis).values + t.max(axis).indices)
    if kind == "one_hot":
        return _unary("selection", f"one_hot({{}}.argmax({axis}), {size}).float()", i,
                      lambda m, t: F.one_hot(t.argmax(axis), size).float())
    rows = values[i].shape[0]
    return _unary("selection", f"zeros({rows}, {size}).scatter(1, {{}}.flatten(2)[..., 0].argmax(1, keepdim=True) "
                               "if 3+ axes else …, 1.0)", i,
                  lambda m, t: torch.zeros(t.shape[0], t.shape[1]).scatter(
                      1, (t.flatten(2)[..., 0] if t.dim() > 2 else t).argmax(1, keepdim=True), 1.0))


def layout_chain(rng, values):
    """A channel shuffle (ShuffleNet's view, transpose, view): the run becomes one layout_chain op."""
    i = _source(rng, values, (4,))
    if i is None:
        return None
    channels = values[i].shape[1]
    groups = [g for g in range(2, channels) if channels % g == 0]
    if not groups:
        return None
    g = _pick(rng, groups)
    return _unary("layout_chain", f"channel_shuffle({{}}, {g})", i,
                  lambda m, x: x.view(x.shape[0], g, -1, *x.shape[2:]).transpose(1, 2).contiguous().view(x.shape))


MAKERS = {maker.__name__: maker for maker in (pooling, pooling3d, padding, resize, shape, indexing, matmul, attention,
                                              recurrent, ssd, unpooling, sampling, selection, layout_chain)}
