"""Convolutions: Conv2d (groups, depthwise, dilation, asymmetric kernels, 'same' padding), Conv1d,
ConvTranspose2d/1d (output_padding included).

1-D convolutions run as 2-D ones on an (N, C, 1, L) view with a kernel height of 1.
"""
from __future__ import annotations

from ..compose import add_constant, keep_range, pair, power, reshape, window
from ..registry import handles


def _padding(padding, kernel: tuple[int, int], dilation: tuple[int, int]):
    """Caffe pads per axis symmetrically; also return how many leading rows/cols to drop afterwards."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":  # torch puts the odd extra pixel at the end: pad both sides by it, drop the start
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple(t - t // 2 for t in totals), tuple(t % 2 for t in totals)
    return pair(padding), (0, 0)


def _params(num_output: int, has_bias: bool, kernel, stride, pad, dilation, groups: int) -> dict:
    params = {"num_output": num_output, "bias_term": has_bias, **window(kernel, stride, pad, repeated=True),
              "group": groups}
    # Along an axis of kernel size 1 the dilation changes nothing (nor the output size): take the
    # other axis's, so that one value is written. MNN 3.6.1's forward fails on two different values.
    dilation = tuple(dilation[1 - axis] if kernel[axis] == 1 else dilation[axis] for axis in (0, 1))
    if dilation != (1, 1):
        params["dilation"] = [dilation[0]] if dilation[0] == dilation[1] else list(dilation)
    return params


def _weight(ctx, weight, kernel: tuple[int, int]):
    """The kernel as a 4-D blob: a 1-D kernel becomes one of height 1."""
    shape = tuple(weight.shape[:2]) + kernel
    if shape == tuple(weight.shape):
        return ctx.weight(weight)
    return ctx.weight(weight, weight.tensor.reshape(shape), f"reshaped to {list(shape)} (kernel height 1)")


def _as_2d(value) -> tuple[int, int, int, int]:
    """The (N, C, 1, L) view of a 1-D convolution's (N, C, L) or (C, L) tensor."""
    channels, length = value.shape[-2:]
    return (value.shape[0] if len(value.shape) == 3 else 1, channels, 1, length)


def _one_d(value, height: int = 1) -> tuple[int, int]:
    """A 1-D stride/dilation (height 1) or padding (height 0) as a pair for the (N, C, 1, L) view."""
    return height, pair(value)[0]


def _convolution(op, ctx, x, out_shape, kernel, stride, padding, dilation, groups: int):
    """Convolution of the 4-D blob ``x``, then the Slice that 'same' padding needs."""
    weight, bias = op.arg(1, "weight"), op.arg(2, "bias")
    pad, drop_leading = _padding(padding, kernel, dilation)
    params = _params(int(weight.shape[0]), bias is not None, kernel, stride, pad, dilation, groups)
    weights = [_weight(ctx, weight, kernel)] + ([ctx.weight(bias)] if bias is not None else [])
    full_shape = tuple(out_shape[:2]) + tuple(size + drop for size, drop in zip(out_shape[2:], drop_leading))
    y = ctx.layer("Convolution", [x], {"convolution_param": params}, weights=weights, shape=full_shape)
    for axis, count in ((2, drop_leading[0]), (3, drop_leading[1])):
        if count:
            y = keep_range(ctx, y, axis, count, y.shape[axis], role=f"same_padding_axis{axis}")
    return y


@handles("conv2d", lowering="Convolution")
def conv2d(op, ctx):
    x, weight = op.arg(0, "input"), op.arg(1, "weight")
    if len(ctx.shape(x)) != 4:
        raise ctx.fail(f"expects a 4-D input, got shape {list(ctx.shape(x))}")
    return _convolution(op, ctx, ctx.blob(x), ctx.out_shape, tuple(weight.shape[2:]), pair(op.arg(3, "stride", 1)),
                        op.arg(4, "padding", 0), pair(op.arg(5, "dilation", 1)), int(op.arg(6, "groups", 1)))


@handles("conv1d", lowering="Reshape to (N, C, 1, L) + Convolution (kernel height 1) + Reshape back")
def conv1d(op, ctx):
    x, weight = op.arg(0, "input"), op.arg(1, "weight")
    padding = op.arg(4, "padding", 0)
    out_2d = _as_2d(op.outputs[0])
    blob = reshape(ctx, ctx.blob(x), _as_2d(x), role="as_2d")
    y = _convolution(op, ctx, blob, out_2d, (1, int(weight.shape[2])), _one_d(op.arg(3, "stride", 1)),
                     padding if isinstance(padding, str) else _one_d(padding, 0), _one_d(op.arg(5, "dilation", 1)),
                     int(op.arg(6, "groups", 1)))
    return reshape(ctx, y, ctx.out_shape, role="as_1d")


def _bias_only_tail(ctx, y, axis: int, count: int, role: str):
    """Append ``count`` zero positions on ``axis``: a Power with scale 0 writes zeros whatever its input,
    and Concat takes that zero column ``count`` times (no Tile: OpenCV's Caffe importer lacks it)."""
    column = keep_range(ctx, y, axis, 0, 1, role=f"{role}/column")
    zeros = power(ctx, column, scale=0.0, role=f"{role}/zeros")
    shape = y.shape[:axis] + (y.shape[axis] + count,) + y.shape[axis + 1:]
    return ctx.layer("Concat", [y] + [zeros] * count, {"concat_param": {"axis": axis}}, role=role, shape=shape)


def _transposed(op, ctx, x, in_shape, out_shape, kernel, stride, padding, dilation, groups: int):
    """Deconvolution of the 4-D blob ``x`` to torch's ``out_shape`` (N, C, H, W).

    Without padding a transposed convolution has F = (H − 1)s + d(k − 1) + 1 outputs per axis;
    torch keeps F[p : p + out] where out = F − 2p + output_padding, and Caffe (no
    output_padding) keeps F[q : F − q] for its pad q. With q = p − output_padding (when
    output_padding ≤ p) dropping the first output_padding rows/columns leaves exactly torch's
    range. When output_padding > p, torch's range runs past F: q = 0, drop p, and the positions
    past F see no input at all, so they hold only the bias: zeros are appended and the bias is
    added afterwards (Scale with unit factors).
    """
    weight, bias = op.arg(1, "weight"), op.arg(2, "bias")
    full = [(size - 1) * s + d * (k - 1) + 1 for size, s, d, k in zip(in_shape[2:], stride, dilation, kernel)]
    keep = [(p, p + out) for p, out in zip(padding, out_shape[2:])]
    pad = tuple(max(0, min(p, f - stop)) for p, f, (_, stop) in zip(padding, full, keep))
    tails = [max(0, stop - f) for f, (_, stop) in zip(full, keep)]
    bias_in_layer = bias is not None and not any(tails)
    params = _params(int(weight.shape[1]) * groups, bias_in_layer, kernel, stride, pad, dilation, groups)
    weights = [_weight(ctx, weight, kernel)] + ([ctx.weight(bias)] if bias_in_layer else [])
    caffe_shape = tuple(out_shape[:2]) + tuple(f - 2 * q for f, q in zip(full, pad))
    y = ctx.layer("Deconvolution", [x], {"convolution_param": params}, weights=weights, shape=caffe_shape)
    for axis, (q, (start, stop), f, tail) in enumerate(zip(pad, keep, full, tails), start=2):
        y = keep_range(ctx, y, axis, start - q, min(stop, f) - q, role=f"output_padding_axis{axis}")
        if tail:
            y = _bias_only_tail(ctx, y, axis, tail, role=f"past_input_axis{axis}")
    if bias is not None and not bias_in_layer:
        y = add_constant(ctx, y, ctx.weight(bias), 1, 1, role="bias")
    return y


@handles("conv_transpose2d", lowering="Deconvolution (pad p − output_padding, then Slice; "
                                      "zeros + bias past the input when output_padding > p)", portable="✓ except with dilation: OpenCV's Deconvolution ignores it")
def conv_transpose2d(op, ctx):
    x, weight = op.arg(0, "input"), op.arg(1, "weight")
    if len(ctx.shape(x)) != 4:
        raise ctx.fail(f"expects a 4-D input, got shape {list(ctx.shape(x))}")
    return _transposed(op, ctx, ctx.blob(x), x.shape, ctx.out_shape, tuple(weight.shape[2:]),
                       pair(op.arg(3, "stride", 1)), pair(op.arg(4, "padding", 0)), pair(op.arg(7, "dilation", 1)),
                       int(op.arg(6, "groups", 1)))


@handles("conv_transpose1d", lowering="Reshape to (N, C, 1, L) + Deconvolution (as conv_transpose2d) + Reshape back",
         portable="✓ except with dilation: OpenCV's Deconvolution ignores it")
def conv_transpose1d(op, ctx):
    x, weight = op.arg(0, "input"), op.arg(1, "weight")
    in_2d, out_2d = _as_2d(x), _as_2d(op.outputs[0])
    blob = reshape(ctx, ctx.blob(x), in_2d, role="as_2d")
    y = _transposed(op, ctx, blob, in_2d, out_2d, (1, int(weight.shape[2])), _one_d(op.arg(3, "stride", 1)),
                    _one_d(op.arg(4, "padding", 0), 0), _one_d(op.arg(7, "dilation", 1)), int(op.arg(6, "groups", 1)))
    return reshape(ctx, y, ctx.out_shape, role="as_1d")
