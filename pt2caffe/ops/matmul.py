"""Matrix products with one constant operand (matmul, mm, bmm, addmm, @) as InnerProduct.

InnerProduct computes x · Wᵀ. So x @ C (C of shape (K, M)) is ``common.inner_product`` with
weight Cᵀ on x's last axis (an InnerProduct for 2-D x, else a 1×1 Convolution on a (−1, K, 1, 1)
view), and C @ x (C of shape (M, K), x of shape (..., K, L)) is computed transposed,
(C @ x)ᵀ = xᵀ @ Cᵀ: Permute the last two axes, the product with weight C, Permute back. A product of two traced tensors has no stock Caffe layer and is
refused.
"""
from __future__ import annotations

import torch

from ..tracer import Const, Value
from .common import inner_product, permute, reshape, scalar_of
from .registry import handles


def _matrix(ctx, const: Const, const_on_left: bool) -> torch.Tensor:
    """The constant operand as a 2-D matrix: leading size-1 batch axes dropped, a vector as a row or column."""
    matrix = const.tensor
    if matrix.dim() == 1:
        return matrix[None, :] if const_on_left else matrix[:, None]
    while matrix.dim() > 2 and matrix.shape[0] == 1:
        matrix = matrix[0]
    if matrix.dim() != 2:
        raise ctx.fail(f"the constant operand of shape {list(const.shape)} is not one matrix; only a product "
                       "with a single constant matrix (shared by the whole batch) is supported")
    return matrix


def _operands(op, ctx, first: int, names: tuple[str, str]):
    """(traced operand, constant operand, whether the constant is on the left)."""
    a, b = op.arg(first, names[0]), op.arg(first + 1, names[1])
    if op.kind == "rmatmul":
        a, b = b, a
    if isinstance(a, Value) and isinstance(b, Value):
        raise ctx.fail("both operands are computed from the inputs: Caffe has no product of two blobs "
                       "(InnerProduct needs a constant weight); only products with a parameter or buffer export")
    if isinstance(a, Value) and isinstance(b, Const):
        return a, b, False
    if isinstance(b, Value) and isinstance(a, Const):
        return b, a, True
    raise ctx.fail("expected a traced tensor and a constant matrix")


def _weight(ctx, const: Const, const_on_left: bool, alpha: float = 1.0):
    """InnerProduct's (num_output, K) weight: C for C @ x, Cᵀ for x @ C, times alpha."""
    matrix = _matrix(ctx, const, const_on_left)
    steps = [] if matrix.shape == const.shape else [f"reshaped to {list(matrix.shape)}"]
    steps += [] if const_on_left else ["transposed"]
    steps += [f"times {alpha}"] if alpha != 1.0 else []
    if not steps:
        return ctx.weight(const)
    return ctx.weight(const, (matrix if const_on_left else matrix.t()) * alpha, ", ".join(steps))


def _inner_product(ctx, x: Value, weight, bias, const_on_left: bool):
    """x @ C, or C @ x computed as (xᵀ @ Cᵀ)ᵀ; ``bias`` holds one value per output feature."""
    transposed = const_on_left and len(x.shape) >= 2
    order = list(range(len(x.shape)))
    order[-2:] = order[-2:][::-1]
    blob = permute(ctx, ctx.blob(x), order, role="transpose") if transposed else ctx.blob(x)
    features = int(weight.array.shape[0])
    product_shape = blob.shape[:-1] + (features,)
    result_shape = tuple(product_shape[axis] for axis in order) if transposed else product_shape
    last = "product" if transposed or result_shape != ctx.out_shape else None
    y = inner_product(ctx, blob, [weight] + ([bias] if bias is not None else []), features, role=last)
    if transposed:
        y = permute(ctx, y, order, role="transpose_back" if result_shape != ctx.out_shape else None)
    return reshape(ctx, y, ctx.out_shape)


@handles("matmul", "rmatmul", "mm", "bmm", lowering="InnerProduct (2-D) or 1×1 Convolution on a (−1, K, 1, 1) view, "
                                                      "weight Cᵀ; Permute around it for C @ x")
def matmul(op, ctx):
    names = ("input", "mat2") if op.kind in ("mm", "bmm") else ("input", "other")
    x, const, const_on_left = _operands(op, ctx, 0, names)
    return _inner_product(ctx, x, _weight(ctx, const, const_on_left), None, const_on_left)


def _bias_vector(ctx, addend, out_shape: tuple[int, ...], const_on_left: bool, beta: float):
    """beta · addend as one value per output feature, or fail when it varies along the other axis."""
    if isinstance(addend, Value):
        raise ctx.fail("the added matrix is computed from the inputs; only a constant bias is supported")
    value = scalar_of(addend)
    if value is not None:
        features = out_shape[0] if const_on_left else out_shape[-1]
        return ctx.constant(torch.full((features,), beta * value), f"addmm bias {value} × beta {beta}")
    full = torch.broadcast_to(addend.tensor, out_shape)
    vector = full[:, 0] if const_on_left else full[0]
    if not torch.equal(full, (vector[:, None] if const_on_left else vector[None, :]).expand(out_shape)):
        raise ctx.fail(f"the added matrix {list(addend.shape)} is not one bias per output feature")
    return ctx.weight(addend, vector * beta, f"as a vector of {vector.numel()} values" +
                      (f", times {beta}" if beta != 1.0 else ""))


@handles("addmm", lowering="as matmul, with bias (beta · input must be one value per output feature)")
def addmm(op, ctx):
    x, const, const_on_left = _operands(op, ctx, 1, ("mat1", "mat2"))
    beta, alpha = float(op.arg(3, "beta", 1)), float(op.arg(4, "alpha", 1))
    bias = _bias_vector(ctx, op.arg(0, "input"), ctx.out_shape, const_on_left, beta) if beta != 0 else None
    return _inner_product(ctx, x, _weight(ctx, const, const_on_left, alpha), bias, const_on_left)
