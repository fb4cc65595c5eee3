"""Fully connected layers: Linear on the last axis of a tensor of any rank."""
from __future__ import annotations

from ..compose import inner_product
from ..registry import handles


@handles("linear", lowering="InnerProduct on a 2-D input; otherwise Reshape (−1, features, 1, 1) + 1×1 "
                            "Convolution + Reshape")
def linear(op, ctx):
    x, weight, bias = op.arg(0, "input"), op.arg(1, "weight"), op.arg(2, "bias")
    weights = [ctx.weight(weight)] + ([ctx.weight(bias)] if bias is not None else [])
    return inner_product(ctx, ctx.blob(x), weights, int(weight.shape[0]))
