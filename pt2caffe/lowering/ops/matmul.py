"""Matrix products (matmul, mm, bmm, addmm, @, einsum).

With one constant operand: InnerProduct computes x · Wᵀ. So x @ C (C of shape (K, M)) is
``compose.inner_product`` with weight Cᵀ on x's last axis (one InnerProduct, on the (rows, K) view of x
when x is not 2-D), and C @ x (C of shape (M, K), x of shape (..., K, L)) is
computed transposed, (C @ x)ᵀ = xᵀ @ Cᵀ: Permute the last two axes, the product with weight C,
Permute back.

With two traced operands (attention, non-local blocks): the batched product of
:mod:`pt2caffe.lowering.ops.products` (K on channels, chunks: copies by Deconvolution/Convolution of
ones, Eltwise PROD, sum over K by a 1×1 Convolution);
its cost is stated there. ``einsum`` with two traced operands is brought to that form by
Permute and Reshape.
"""
from __future__ import annotations

import math

import torch

from ...graph import Const, Value
from ..compose import inner_product, permute, reshape, scalar_of
from ..registry import handles
from .products import batched_product, reshape_leading

TRACED_PRODUCT = ("two traced operands (T × (M, K) @ (K, N)): K on the channel axis, in column chunks of about "
                  "1 MiB: A repeated by a depthwise Deconvolution of ones, each B chunk by a 1×1 Convolution of ones, "
                  "Eltwise PROD, a 1×1 Convolution sums over K, Concat; ≤ 2 Permutes; T·M·N·K floats of blobs")


def _matrix(ctx, const: Const, const_on_left: bool) -> torch.Tensor:
    """The constant operand as a 2-D matrix: leading batch axes of size 1, or repeating one matrix (TPS code writes
    ``inv_delta_C.repeat(batch, 1, 1)``), dropped; a vector as a row or column."""
    matrix = const.tensor
    if matrix.dim() == 1:
        return matrix[None, :] if const_on_left else matrix[:, None]
    while matrix.dim() > 2 and (matrix.shape[0] == 1 or torch.equal(matrix, matrix[:1].expand_as(matrix))):
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


def _traced_product(ctx, a: Value, b: Value):
    """a @ b for two traced tensors with torch.matmul's rules for 1-D operands.

    The batch axes must be equal, or the right operand has none (then the left one's batch axes
    join its rows); other broadcasting is refused.
    """
    a_shape = (1,) + tuple(a.shape) if len(a.shape) == 1 else tuple(a.shape)
    b_shape = tuple(b.shape) + (1,) if len(b.shape) == 1 else tuple(b.shape)
    a_batch, b_batch = math.prod(a_shape[:-2]), math.prod(b_shape[:-2])
    padded = [(1,) * (max(len(a_shape), len(b_shape)) - len(s)) + s[:-2] for s in (a_shape, b_shape)]
    if b_batch == 1 and a_batch > 1:  # (T, M, K) @ (K, N) = ((T·M, K) @ (K, N)) viewed as (T, M, N)
        count, a_shape = 1, (a_batch * a_shape[-2], a_shape[-1])
    elif padded[0] == padded[1]:
        count = a_batch
    else:
        raise ctx.fail(f"the batch axes {list(a_shape[:-2])} and {list(b_shape[:-2])} broadcast against each "
                       "other; only equal batch axes, or none on the right operand, are supported")
    lhs = reshape_leading(ctx, ctx.blob(a), (count,) + a_shape[-2:], role="lhs_batch")
    rhs = reshape_leading(ctx, ctx.blob(b), (count,) + b_shape[-2:], role="rhs_batch")
    product = batched_product(ctx, lhs, rhs, a_k_last=True, b_k_last=False, role="product")
    return reshape_leading(ctx, product, ctx.out_shape)


@handles("matmul", "rmatmul", "mm", "bmm",
         lowering="InnerProduct (on the (rows, K) view when not 2-D), weight Cᵀ; Permute around it "
                  "for C @ x; " + TRACED_PRODUCT)
def matmul(op, ctx):
    names = ("input", "mat2") if op.kind in ("mm", "bmm") else ("input", "other")
    a, b = op.arg(0, names[0]), op.arg(1, names[1])
    if isinstance(a, Value) and isinstance(b, Value):
        return _traced_product(ctx, *((b, a) if op.kind == "rmatmul" else (a, b)))
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


def _einsum_terms(ctx, equation: str, count: int) -> tuple[list[str], str]:
    """The operands' subscripts and the output's, torch's implicit output (letters used once, sorted) included."""
    equation = equation.replace(" ", "")
    if "." in equation:
        raise ctx.fail(f"einsum {equation!r}: ellipsis ('...') is not supported; name every axis")
    inputs, _, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != count:
        raise ctx.fail(f"einsum {equation!r} names {len(terms)} operands but {count} were given")
    if "->" not in equation:
        letters = "".join(terms)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for term in terms + [output]:
        if len(set(term)) != len(term):
            raise ctx.fail(f"einsum {equation!r}: a letter repeated in one operand (a diagonal) is not supported")
    return terms, output


def _einsum_operand(ctx, x: Value, term: str, first: str, second: str, role: str):
    """Permute ``x`` (subscripts ``term``) to batch + ``first`` + ``second`` letters, as a (T, ·, ·) blob."""
    order = [term.index(c) for c in first + second]
    blob = permute(ctx, ctx.blob(x), order, role=f"{role}/order")
    sizes = {c: x.shape[term.index(c)] for c in term}
    return blob, sizes


@handles("einsum", lowering="two traced operands, no ellipsis or diagonal: Permute + Reshape to a batched "
                            "product (see matmul), Reshape + Permute to the output order")
def einsum(op, ctx):
    equation, operands = op.arg(0, "equation"), op.args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if len(operands) != 2 or not all(isinstance(x, Value) for x in operands):
        raise ctx.fail("einsum is supported with two traced operands only (no constant operand, no single "
                       "or third operand)")
    (sa, sb), out = _einsum_terms(ctx, equation, len(operands))
    a, b = operands
    lonely = [c for c in sa + sb if c not in out and (c in sa) != (c in sb)]
    if lonely:
        raise ctx.fail(f"einsum {equation!r} sums axis {lonely[0]!r} of one operand alone; not supported")
    batch = "".join(c for c in out if c in sa and c in sb)
    left = "".join(c for c in out if c in sa and c not in sb)
    right = "".join(c for c in out if c in sb and c not in sa)
    summed = "".join(c for c in sa if c in sb and c not in out)
    k_last = _permutes(sa, batch + left + summed) + _permutes(sb, batch + right + summed) <= \
        _permutes(sa, batch + summed + left) + _permutes(sb, batch + summed + right)
    lhs, sizes = _einsum_operand(ctx, a, sa, batch, left + summed if k_last else summed + left, "lhs")
    rhs, sizes_b = _einsum_operand(ctx, b, sb, batch, right + summed if k_last else summed + right, "rhs")
    sizes.update(sizes_b)
    extent = {name: math.prod(sizes[c] for c in letters) for name, letters in
              (("t", batch), ("m", left), ("n", right), ("k", summed))}
    lhs = reshape_leading(ctx, lhs, (extent["t"],) + ((extent["m"], extent["k"]) if k_last else
                                                      (extent["k"], extent["m"])), role="lhs_batch")
    rhs = reshape_leading(ctx, rhs, (extent["t"],) + ((extent["n"], extent["k"]) if k_last else
                                                      (extent["k"], extent["n"])), role="rhs_batch")
    product = batched_product(ctx, lhs, rhs, a_k_last=k_last, b_k_last=k_last, role="product")
    natural = batch + left + right
    result = reshape_leading(ctx, product, tuple(sizes[c] for c in natural) or (1,), role="unflatten")
    result = permute(ctx, result, [natural.index(c) for c in out])
    return reshape_leading(ctx, result, ctx.out_shape)


def _permutes(term: str, wanted: str) -> int:
    """1 when reordering subscripts ``term`` to ``wanted`` needs a Permute, else 0."""
    return int(term != wanted)
