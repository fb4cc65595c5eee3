"""Gemm (Y = alpha·A'·B' + beta·C with transA/transB), MatMul (numpy matmul semantics) and Einsum
(ONNX Operators.md). A constant B is a linear layer's weight (alpha folded into it), C its bias when it is one
value per output feature."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import converts


@converts("Gemm")
def gemm(ctx, a, b, c=None):
    """Y = alpha·A'·B' + beta·C (A' = Aᵀ when transA, B' = Bᵀ when transB)."""
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    if ctx.attr("transA", 0):
        a = a.t()
    static_b = ctx.static[1]
    if static_b:  # a weight: F.linear(a, W) with W = B'ᵀ (N × K)
        weight = b if ctx.attr("transB", 0) else b.t()
        if alpha != 1.0:
            weight = weight * alpha
        bias = None
        if c is not None and ctx.static[2] and beta != 0.0:
            bias = c if beta == 1.0 else c * beta
            if bias.numel() == weight.shape[0] and bias.dim() <= 2 and (bias.dim() < 2 or bias.shape[0] == 1):
                return F.linear(a, weight, bias.reshape(-1))
            return F.linear(a, weight) + bias
        y = F.linear(a, weight)
    else:
        y = a @ (b.t() if ctx.attr("transB", 0) else b)
        if alpha != 1.0:
            y = y * alpha
    if c is not None and beta != 0.0:
        y = y + (c if beta == 1.0 else c * beta)
    return y


@converts("MatMul")
def matmul(ctx, a, b):
    return torch.matmul(a, b)


@converts("Einsum")
def einsum(ctx, *operands):
    return torch.einsum(ctx.attr("equation"), *operands)
