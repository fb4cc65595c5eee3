"""BatchNormalization (7: spatial attribute, 9: none, 14: training_mode), InstanceNormalization,
LayerNormalization (17), GroupNormalization (18: scale and bias per group; 21: per channel) and LRN
(ONNX Operators.md). Inference only: training outputs and modes are refused."""
from __future__ import annotations

import torch.nn.functional as F

from ..registry import converts


@converts("BatchNormalization")
def batch_norm(ctx, x, scale, bias, mean, var):
    if ctx.opset < 9 and ctx.attr("spatial", 1) == 0:
        raise ctx.fail("spatial=0 (statistics per element, not per channel) is not supported")
    if ctx.attr("training_mode", 0):
        raise ctx.fail("training_mode=1 (batch statistics): export the model in inference mode")
    if ctx.uses_beyond_first():
        raise ctx.fail("the training outputs (running mean/variance) are used: export in inference mode")
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, ctx.attr("epsilon", 1e-5))


@converts("InstanceNormalization")
def instance_norm(ctx, x, scale, bias):
    return F.instance_norm(x, weight=scale, bias=bias, eps=ctx.attr("epsilon", 1e-5))


@converts("LayerNormalization")
def layer_norm(ctx, x, scale, bias=None):
    if ctx.uses_beyond_first():
        raise ctx.fail("the Mean/InvStdDev outputs are used (training only)")
    axis = ctx.attr("axis", -1) % x.dim()
    shape = tuple(x.shape[axis:])
    scale = scale.expand(shape) if tuple(scale.shape) != shape else scale
    if bias is not None and tuple(bias.shape) != shape:
        bias = bias.expand(shape)
    return F.layer_norm(x, shape, scale, bias, ctx.attr("epsilon", 1e-5))


@converts("GroupNormalization")
def group_norm(ctx, x, scale, bias):
    groups = ctx.attr("num_groups")
    channels = x.shape[1]
    if ctx.opset < 21 and scale.numel() == groups and groups != channels:  # opset 18: one scale per group
        scale = scale.repeat_interleave(channels // groups)
        bias = bias.repeat_interleave(channels // groups)
    return F.group_norm(x, groups, scale, bias, ctx.attr("epsilon", 1e-5))


@converts("LRN")
def lrn(ctx, x):
    size = ctx.attr("size")
    if size % 2 == 0:
        raise ctx.fail(f"an even size ({size}) centres its window differently from Caffe's and PyTorch's LRN")
    return F.local_response_norm(x, size, ctx.attr("alpha", 1e-4), ctx.attr("beta", 0.75), ctx.attr("bias", 1.0))
