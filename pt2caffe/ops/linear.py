"""Fully connected layers: Linear on the last axis of a tensor of any rank."""
from __future__ import annotations

from .registry import handles


@handles("linear", lowering="InnerProduct (axis = last)")
def linear(op, ctx):
    x, weight, bias = op.arg(0, "input"), op.arg(1, "weight"), op.arg(2, "bias")
    params = {"num_output": int(weight.shape[0]), "bias_term": bias is not None,
              "axis": len(ctx.shape(x)) - 1}
    weights = [ctx.weight(weight)] + ([ctx.weight(bias)] if bias is not None else [])
    return ctx.layer("InnerProduct", [ctx.blob(x)], {"inner_product_param": params}, weights=weights)
