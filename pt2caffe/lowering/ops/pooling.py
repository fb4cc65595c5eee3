"""Pooling: max/avg (ceil and floor mode, count_include_pad both ways), global and adaptive.

Adaptive pooling whose windows along each axis share one length and one step (13 → 6 is k3 s2)
is one Pooling. Other windows: average = one averaging matrix per axis (row i holds 1/length over
its window), applied by ``compose.apply_axis_matrices``; max is separable too: per axis a stride-1 Pooling per
window length, and a 0/1 matrix picks each output's window among them.

Stock SSD Caffe's Pooling always rounds up and drops a last window that starts in the padding only
when there is padding (pooling_layer.cpp Reshape); PyTorch rounds down in floor mode and in ceil mode
drops a last window starting at or past H + p even without padding (pooling_output_shape_pad_lr,
ATen/native/Pool.h); MNN's Caffe pooling rounds up and never drops one. So Caffe (or MNN) can make one
window more than PyTorch: in floor mode with a stride above 1, and in ceil mode when k < p + s. There
the trailing row/column is dropped by a Crop to a reference blob: a one-channel Convolution with zero
weights and the stride s, whose length ⌊(H + 2P − K) / s⌋ + 1 (conv_layer.cpp) is PyTorch's at every H.
PyTorch's length is ⌊(H + c) / s⌋ + 1 with c = 2p − k (floor), p − 1 (ceil, k < p + s) or
2p − k + s − 1 (ceil otherwise), so P = max(0, ⌈(c + 1) / 2⌉) and K = 2P − c (checked against PyTorch for
every k, s ≤ 6, p ≤ k/2, H < 40). The windows that remain are the same ones, and the crop follows the
input's size, so the net stays valid at every input size. Moving the padding instead would shift every
window.
"""
from __future__ import annotations

import numpy as np

from ...net.shapes.windows import pooled_extent
from ..compose import apply_axis_matrices, pair, scale_axes, window
from ..choice import Form
from ..registry import handles


def torch_offset(kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """c with PyTorch's pooled length ⌊(H + c) / s⌋ + 1 at every H it accepts (see the module's docstring)."""
    if not ceil_mode:
        return 2 * pad - kernel
    return pad - 1 if kernel < pad + stride else 2 * pad - kernel + stride - 1


def reference_window(offset: int) -> tuple[int, int]:
    """(kernel K ≥ 1, pad P ≥ 0) of a Convolution whose length ⌊(H + 2P − K) / s⌋ + 1 is
    ⌊(H + offset) / s⌋ + 1."""
    pad = max(0, -(-(offset + 1) // 2))
    return 2 * pad - offset, pad


def may_make_more(kernel: int, stride: int, pad: int, ceil_mode: bool) -> bool:
    """Whether Caffe's or MNN's Pooling makes one window more than PyTorch at some input size."""
    return kernel < pad + stride if ceil_mode else stride > 1


def window_counts(size: int, out: int, kernel: int, stride: int, pad: int):
    """Per output position: Caffe's divisor (window clipped at size + pad) and the count of real inputs."""
    starts = np.arange(out) * stride - pad
    caffe_count = np.minimum(starts + kernel, size + pad) - starts
    valid_count = np.minimum(starts + kernel, size) - np.maximum(starts, 0)
    return caffe_count, valid_count


def _crop_to_torch(ctx, x, pooled, kernel, stride, pad, wanted, role: str | None, ceil_mode: bool):
    """Crop Caffe's pooled blobs to PyTorch's size ``wanted``, whatever the input size.

    The reference is a zero Convolution (module docstring): one output channel, or (where the target needs the
    reference to have the bottom's channels: ncnn's Crop takes every extent of it) depthwise."""
    return ctx.choose(
        Form("one-channel reference", lambda ctx: _crops(ctx, x, pooled, kernel, stride, pad, wanted, role, ceil_mode,
                                                         1)),
        Form("depthwise reference", lambda ctx: _crops(ctx, x, pooled, kernel, stride, pad, wanted, role, ceil_mode,
                                                       x.shape[1])))


def _crops(ctx, x, pooled, kernel, stride, pad, wanted, role, ceil_mode: bool, channels: int) -> list:
    sizes, pads = zip(*[reference_window(torch_offset(*axis, ceil_mode)) for axis in zip(kernel, stride, pad)])
    group = {"group": channels} if channels > 1 else {}
    conv = {"num_output": channels, **group, "bias_term": False, **window(sizes, stride, pads, repeated=True)}
    inputs_per_output = x.shape[1] if channels == 1 else 1
    zeros = ctx.constant(np.zeros((channels, inputs_per_output) + tuple(sizes)),
                         "zeros: only the output's shape is used")
    tag = "ceil_mode" if ceil_mode else "floor_mode"
    tag = f"{role}/{tag}" if role else tag
    reference = ctx.layer("Convolution", [x], {"convolution_param": conv}, role=f"{tag}_shape",
                          shape=(x.shape[0], channels) + tuple(wanted), weights=[zeros])
    return [ctx.layer("Crop", [top, reference], {"crop_param": {"axis": 2, "offset": [0]}},
                      role=tag + (f"/{i}" if i else ""), shape=top.shape[:2] + tuple(wanted))
            for i, top in enumerate(pooled)]


def _padded_first(ctx, x, params: dict, pad, shape, role) -> list:
    """AVE Pooling with ``pad`` as a zero-padding depthwise 1×1 Convolution (weight 1) and the same Pooling
    without pad: the same windows over the same values (Caffe counts the padding up to H + pad either way:
    pooling_layer.cpp), bit for bit, for runtimes that do not count padding (ncnn)."""
    channels = x.shape[1]
    conv = {"num_output": channels, "group": channels, "bias_term": False, **window((1, 1), (1, 1), pad, repeated=True)}
    padded = ctx.layer("Convolution", [x], {"convolution_param": conv}, role=f"{role or 'pool'}/zero_padding",
                       shape=x.shape[:2] + (x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1]),
                       weights=[ctx.constant(np.ones((channels, 1, 1, 1)), "identity: only the padding adds zeros")])
    unpadded = {key: value for key, value in params.items() if not key.startswith("pad")}
    return [ctx.layer("Pooling", [padded], {"pooling_param": unpadded}, role=role, shape=shape)]


def _pool(op, ctx, method: str, kernel, stride, pad, correction=None, *, floor_mode: bool):
    """The op's pooling of its 4-D input; no blob for pooling indices unless they are used (MaxUnpool)."""
    x = ctx.blob(op.arg(0, "input"))
    if len(x.shape) != 4:
        raise ctx.fail(f"expects a 4-D input, got shape {list(x.shape)}")
    with_mask = len(op.outputs) > 1 and ctx.is_used(op.outputs[1])
    tops = pool_blob(ctx, x, method, kernel, stride, pad, ctx.out_shape[2:], correction, floor_mode=floor_mode,
                     with_mask=with_mask)
    return tops + [None] * (len(op.outputs) - len(tops))


def pool_blob(ctx, x, method: str, kernel, stride, pad, wanted: tuple[int, int], correction=None, *,
              floor_mode: bool, role: str | None = None, with_mask: bool = False) -> list:
    """Pooling of the 4-D blob ``x`` over H and W to PyTorch's output size ``wanted``: [pooled] or, with
    ``with_mask``, [pooled, argmax mask] (Caffe's second MAX top: the flat index h·W + w of each maximum
    in its input plane, as PyTorch's indices). ``floor_mode``: PyTorch's default rounding; where Caffe or
    MNN can make a window more (module docstring), a Crop to ``wanted``. ``correction``: a per-position
    factor (H_out, W_out) applied after AVE pooling."""
    params = {"pool": method, **window(kernel, stride, pad, repeated=False)}
    for k, p in zip(kernel, pad):
        if p > k // 2:
            raise ctx.fail(f"padding {p} is more than half the kernel {k}")
    caffe_out = tuple(pooled_extent(x.shape[2 + i], kernel[i], stride[i], pad[i], any(pad)) for i in range(2))
    extra = [have - want for have, want in zip(caffe_out, wanted)]
    if any(e not in (0, 1) for e in extra):
        raise ctx.fail(f"Caffe would pool to {list(caffe_out)} where PyTorch gives {list(wanted)}")
    shape = x.shape[:2] + caffe_out
    if method == "AVE" and any(pad):
        tops = ctx.choose(Form("padded Pooling", lambda ctx: [ctx.layer("Pooling", [x], {"pooling_param": params},
                                                                        role=role, shape=shape)]),
                          Form("zero padding, then Pooling", lambda ctx: _padded_first(ctx, x, params, pad, shape, role)))
    else:
        tops = ctx.layer("Pooling", [x], {"pooling_param": params}, role=role,
                         top_shapes=[shape] * (2 if with_mask else 1))
    if any(may_make_more(*axis, not floor_mode) for axis in zip(kernel, stride, pad)):
        tops = _crop_to_torch(ctx, x, tops, kernel, stride, pad, wanted, role, not floor_mode)
    if correction is not None:
        tops[0] = scale_axes(ctx, tops[0], ctx.constant(correction, "average pooling divisor correction"), None, 2, 4,
                             role=f"{role or 'pool'}/divisor")
    return tops


@handles("max_pool2d", lowering="Pooling MAX (+ where Caffe or MNN can make one window more: floor mode, or ceil mode "
                                "with kernel < padding + stride, a Crop to a zero Convolution's shape, any input size); "
                                "dilation d: every d-th row/column (Pooling, kernel 1, stride d), then the pooling "
                                "with stride and padding divided by d")
def max_pool2d(op, ctx):
    kernel = pair(op.arg(1, "kernel_size"))
    stride = pair(op.arg(2, "stride") or kernel)
    pad, dilation = pair(op.arg(3, "padding", 0)), pair(op.arg(4, "dilation", 1))
    floor_mode = not op.arg(5, "ceil_mode", False)
    if dilation != (1, 1):
        return _dilated_max_pool(op, ctx, kernel, stride, pad, dilation, floor_mode)
    return _pool(op, ctx, "MAX", kernel, stride, pad, floor_mode=floor_mode)


def _dilated_max_pool(op, ctx, kernel, stride, pad, dilation, floor_mode: bool):
    """Caffe's Pooling has no dilation. A window of dilation d starting at i·s − p reads the rows
    i·s − p + j·d (PyTorch's max_pool2d); when s and p are multiples of d, these are rows ≡ 0 (mod d)
    only, so the pooling is an undilated one (kernel k, stride s/d, padding p/d) of x[::d]. A MAX
    Pooling with kernel 1 and stride d gives x[::d]: ⌈H/d⌉ rows, where Caffe rounds up to
    ⌈(H − 1)/d⌉ + 1 (pooling_layer.cpp), so its empty last window is cropped as in floor mode.
    Floor mode only: in ceil mode PyTorch's last window can reach rows x[::d] lacks."""
    x = ctx.blob(op.arg(0, "input"))
    if not floor_mode or any(s % d or p % d for s, p, d in zip(stride, pad, dilation)):
        raise ctx.fail(f"Caffe's Pooling has no dilation: dilation {list(dilation)} is lowered in floor mode with "
                       f"stride and padding multiples of it (here stride {list(stride)}, padding {list(pad)}"
                       f"{', ceil_mode' if not floor_mode else ''})")
    if len(op.outputs) > 1 and ctx.is_used(op.outputs[1]):
        raise ctx.fail("the indices of a dilated max pooling are not lowered")
    rows = tuple(-(-size // d) for size, d in zip(x.shape[2:], dilation))
    picked = pool_blob(ctx, x, "MAX", (1, 1), dilation, (0, 0), rows, floor_mode=True, role="dilation_rows")[0]
    tops = pool_blob(ctx, picked, "MAX", kernel, tuple(s // d for s, d in zip(stride, dilation)),
                     tuple(p // d for p, d in zip(pad, dilation)), ctx.out_shape[2:], floor_mode=True)
    return tops + [None] * (len(op.outputs) - len(tops))


@handles("avg_pool2d", lowering="Pooling AVE (+ Crop as for max, + Scale when padding is not counted)")
def avg_pool2d(op, ctx):
    x = op.arg(0, "input")
    kernel = pair(op.arg(1, "kernel_size"))
    stride = pair(op.arg(2, "stride") or kernel)
    pad = pair(op.arg(3, "padding", 0))
    count_pad, divisor = op.arg(5, "count_include_pad", True), op.arg(6, "divisor_override")
    correction = None
    if (pad != (0, 0) and not count_pad) or divisor:
        out_h, out_w = ctx.out_shape[2:]
        caffe_h, valid_h = window_counts(x.shape[2], out_h, kernel[0], stride[0], pad[0])
        caffe_w, valid_w = window_counts(x.shape[3], out_w, kernel[1], stride[1], pad[1])
        factor = np.outer(caffe_h, caffe_w) / (divisor or np.outer(valid_h, valid_w))
        correction = None if np.all(factor == 1) else factor
    return _pool(op, ctx, "AVE", kernel, stride, pad, correction, floor_mode=not op.arg(4, "ceil_mode", False))


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows along one axis: [⌊i·size/out⌋, ⌈(i+1)·size/out⌉)."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _averaging_matrix(size: int, out: int) -> np.ndarray:
    matrix = np.zeros((out, size))
    for row, (start, stop) in enumerate(adaptive_windows(size, out)):
        matrix[row, start:stop] = 1.0 / (stop - start)
    return matrix


def _uneven_adaptive_max(ctx, x, wanted):
    """Max is separable: per axis, one stride-1 Pooling per window length (Concat when several),
    then a 0/1 matrix picks each output's window from them."""
    selections = {}
    for axis, out in zip((2, 3), wanted):
        windows = adaptive_windows(x.shape[axis], out)
        parts, offsets, total = [], {}, 0
        for length in sorted({stop - start for start, stop in windows}):
            part = x if length == 1 else _sliding_max(ctx, x, axis, length)
            offsets[length], total = total, total + part.shape[axis]
            parts.append(part)
        if len(parts) > 1:
            shape = x.shape[:axis] + (total,) + x.shape[axis + 1:]
            x = ctx.layer("Concat", parts, {"concat_param": {"axis": axis}}, role=f"axis{axis}/windows", shape=shape)
        else:
            x = parts[0]
        selections[axis] = np.zeros((out, total))
        for row, (start, stop) in enumerate(windows):
            selections[axis][row, offsets[stop - start] + start] = 1.0
    return apply_axis_matrices(ctx, x, selections, "adaptive max pooling window selection")


def _sliding_max(ctx, x, axis: int, length: int):
    kernel = (length, 1) if axis == 2 else (1, length)
    params = {"pool": "MAX", **window(kernel, repeated=False)}
    shape = x.shape[:axis] + (x.shape[axis] - length + 1,) + x.shape[axis + 1:]
    return ctx.layer("Pooling", [x], {"pooling_param": params}, role=f"axis{axis}/max{length}", shape=shape)


def _regular(windows: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(kernel, stride) when the windows share one length and start at a constant step ≥ 1."""
    lengths = {stop - start for start, stop in windows}
    steps = {later[0] - earlier[0] for earlier, later in zip(windows, windows[1:])} or {1}
    if len(lengths) == 1 and len(steps) == 1 and steps != {0}:
        return lengths.pop(), steps.pop()
    return None


def _adaptive(op, ctx, method: str):
    x = ctx.blob(op.arg(0, "input"))
    size, wanted = x.shape[2:], ctx.out_shape[2:]
    if wanted == (1, 1):
        y = ctx.layer("Pooling", [x], {"pooling_param": {"pool": method, "global_pooling": True}})
        return [y] + [None] * (len(op.outputs) - 1)
    regular = [_regular(adaptive_windows(s, w)) for s, w in zip(size, wanted)]
    if None not in regular:  # e.g. 12 → 4 (k3 s3) or 13 → 6 (k3 s2): Caffe's Pooling without padding
        kernel, stride = zip(*regular)
        return _pool(op, ctx, method, kernel, stride, (0, 0), floor_mode=False)  # sizes match exactly
    if method == "AVE":
        return apply_axis_matrices(ctx, x, {axis: _averaging_matrix(s, w) for axis, s, w in zip((2, 3), size, wanted)},
                                   "adaptive average pooling windows")
    return [_uneven_adaptive_max(ctx, x, wanted)] + [None] * (len(op.outputs) - 1)


@handles("adaptive_avg_pool2d", lowering="Pooling AVE (global, or windows of one length and step); "
                                         "otherwise averaging matrices (1×1 Convolutions between Reshapes)")
def adaptive_avg_pool2d(op, ctx):
    return _adaptive(op, ctx, "AVE")


@handles("adaptive_max_pool2d", lowering="Pooling MAX (global, or windows of one length and step); otherwise "
                                         "stride-1 Pooling per window length + 0/1 selection matrices (1×1 Convolutions)")
def adaptive_max_pool2d(op, ctx):
    return _adaptive(op, ctx, "MAX")
