"""Activations. Stock Caffe has ReLU/PReLU/ELU/Sigmoid/TanH/BNLL; the rest are exact compositions."""
from __future__ import annotations

import math

from ..choice import Form
from ..compose import (ELTWISE_PROD, ELTWISE_SUM, NATURAL_LOG, absolute, as_planes, broadcast_to, clamp, eltwise, elu,
                       exponential, log_sum_exp, normalize_dim, permute, power, relu, reshape, scalar_of, unplanes)
from ..registry import handles


def _input(op, ctx):
    return ctx.blob(op.arg(0, "input"))


@handles("relu", lowering="ReLU")
def relu_op(op, ctx):
    return relu(ctx, _input(op, ctx))


@handles("leaky_relu", lowering="ReLU (negative_slope)")
def leaky_relu(op, ctx):
    return relu(ctx, _input(op, ctx), negative_slope=float(op.arg(1, "negative_slope", 0.01)))


@handles("prelu", lowering="PReLU (a shared weight is repeated per channel; above 4-D on an (N, C, rest) view)")
def prelu(op, ctx):
    """A shared weight becomes a per-channel blob: same maths, and OpenCV cannot load Caffe's 0-d blob.
    Caffe's PReLU reads its input's channels with the legacy 4-axis accessor (prelu_layer.cpp), so a 5-D
    or larger input goes through an (N, C, D·H·…) view and back."""
    x, weight = op.arg(0, "input"), op.arg(1, "weight")
    channels = x.shape[1] if len(x.shape) > 1 else 1
    repeated = weight.tensor.numel() == 1 and channels > 1
    array = weight.tensor.reshape(-1).repeat(channels) if repeated else weight.tensor.reshape(-1)
    how = f"repeated over {channels} channels" if repeated else None
    blob = ctx.blob(x)
    if len(x.shape) > 4:
        blob = reshape(ctx, blob, (x.shape[0], channels, math.prod(x.shape[2:])), role="as_3d")
    y = ctx.layer("PReLU", [blob], {"prelu_param": {"channel_shared": False}}, weights=[ctx.weight(weight, array, how)],
                  role="prelu" if len(x.shape) > 4 else None, shape=blob.shape)
    return reshape(ctx, y, tuple(x.shape)) if len(x.shape) > 4 else y


@handles("elu", lowering="ELU (alpha); ReLU + α(exp(min(x, 0)) − 1) where the target refuses ELU and Exp (RKNN)")
def elu_op(op, ctx):
    return elu(ctx, _input(op, ctx), float(op.arg(1, "alpha", 1.0)))


@handles("selu", lowering="ELU + Power (scale)")
def selu(op, ctx):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return power(ctx, elu(ctx, _input(op, ctx), alpha, role="elu"), scale=scale)


@handles("sigmoid", lowering="Sigmoid")
def sigmoid(op, ctx):
    return ctx.layer("Sigmoid", [_input(op, ctx)])


@handles("tanh", lowering="TanH")
def tanh(op, ctx):
    return ctx.layer("TanH", [_input(op, ctx)])


@handles("relu6", lowering="6 − ReLU(6 − ReLU(x)): ReLU, Scale, ReLU, Scale (a chain: the first ReLU fuses)")
def relu6(op, ctx):
    return clamp(ctx, _input(op, ctx), 0.0, 6.0)


@handles("hardtanh", lowering="max − ReLU((max − min) − ReLU(x − min)): Scale/ReLU chain")
def hardtanh(op, ctx):
    low, high = float(op.arg(1, "min_val", -1.0)), float(op.arg(2, "max_val", 1.0))
    return clamp(ctx, _input(op, ctx), low, high)


def _clamp_bound(op, ctx, index: int, name: str) -> float | None:
    """A bound of clamp: absent, a number or a one-element constant; a tensor of bounds is refused."""
    ref = op.arg(index, name)
    bound = scalar_of(ref)
    if ref is not None and bound is None:
        instead = "maximum" if name == "min" else "minimum"
        raise ctx.fail(f"a tensor {name} bound is not supported: use torch.{instead}(x, {name}) instead")
    return bound


@handles("clamp", lowering="Scale/ReLU chain (as hardtanh)")
def clamp_op(op, ctx):
    low, high = _clamp_bound(op, ctx, 1, "min"), _clamp_bound(op, ctx, 2, "max")
    return clamp(ctx, _input(op, ctx), low, high)


@handles("clamp_min", lowering="min + ReLU(x − min)")
def clamp_min(op, ctx):
    return clamp(ctx, _input(op, ctx), _clamp_bound(op, ctx, 1, "min"), None)


@handles("clamp_max", lowering="max − ReLU(max − x)")
def clamp_max(op, ctx):
    return clamp(ctx, _input(op, ctx), None, _clamp_bound(op, ctx, 1, "max"))


def _hardsigmoid(ctx, x, role=None):
    """clamp(x/6 + 1/2, 0, 1), which is torch's hardsigmoid: Scale + the clamp chain, on the 4-D view of x."""
    tag = role or "hardsigmoid"
    shape, planes = x.shape, as_planes(ctx, x, role=f"{tag}/as_planes")
    gate = clamp(ctx, power(ctx, planes, scale=1.0 / 6.0, shift=0.5, role=f"{tag}/affine"), 0.0, 1.0,
                 role=role if len(shape) == 4 or len(shape) < 2 else f"{tag}/clamp")
    return unplanes(ctx, gate, shape, role=role)


@handles("hardsigmoid", lowering="Scale(x/6 + 1/2) + ReLU/Scale clamp chain to [0, 1]")
def hardsigmoid(op, ctx):
    return _hardsigmoid(ctx, _input(op, ctx))


@handles("hardswish", lowering="x · hardsigmoid(x): Scale + ReLU/Scale clamp chain + Eltwise PROD")
def hardswish(op, ctx):
    x = _input(op, ctx)
    return eltwise(ctx, [x, _hardsigmoid(ctx, x, "hardsigmoid")], ELTWISE_PROD)


@handles("silu", lowering="x · Sigmoid(x): Sigmoid + Eltwise PROD")
def silu(op, ctx):
    x = _input(op, ctx)
    return eltwise(ctx, [x, ctx.layer("Sigmoid", [x], role="sigmoid")], ELTWISE_PROD)


def _softplus(ctx, x, beta: float, role):
    if beta == 1.0:
        return ctx.layer("BNLL", [x], role=role)
    scaled = power(ctx, x, scale=beta, role=f"{role or 'softplus'}/beta")
    return power(ctx, ctx.layer("BNLL", [scaled], role=f"{role or 'softplus'}/bnll"), scale=1.0 / beta, role=role)


# torch's softplus returns x itself where beta·x > threshold; BNLL keeps log(1 + exp(x)), which is
# x + log1p(exp(−beta·x))/beta there: below float32's resolution of x only from beta·x ≈ 17 on.
MIN_SOFTPLUS_THRESHOLD = 17.0


@handles("softplus", lowering="BNLL (with Power for beta ≠ 1); threshold < 17 refused")
def softplus(op, ctx):
    threshold = float(op.arg(2, "threshold", 20.0))
    if threshold < MIN_SOFTPLUS_THRESHOLD:
        raise ctx.fail(f"threshold {threshold:g} makes torch return x where beta·x > {threshold:g}, which Caffe's "
                       f"BNLL does not: only thresholds ≥ {MIN_SOFTPLUS_THRESHOLD:g} (default 20) are exact")
    return _softplus(ctx, _input(op, ctx), float(op.arg(1, "beta", 1.0)), None)


@handles("mish", lowering="x · TanH(BNLL(x))")
def mish(op, ctx):
    x = _input(op, ctx)
    gate = ctx.layer("TanH", [_softplus(ctx, x, 1.0, "softplus")], role="tanh")
    return eltwise(ctx, [x, gate], ELTWISE_PROD)


# GELU(x) = x·Φ(x) = x·σ(h(x)) with h = logit Φ, an odd function; h(x) ≈ x·q(x²) with q of degree 6 below,
# fitted (issue 21) by weighted least squares in float64 to logit Φ(x) = ln Φ(x) − ln Φ(−x) (scipy.special
# log_ndtr) on 400,001 points of [0, 6.5], weights x·Φ(x)·(1 − Φ(x)) (= ∂GELU/∂h, so the fit spends its
# accuracy where GELU feels it), reweighted 40 times toward the minimax error. Evaluated by Horner's rule in
# float32, max |x·σ(x·q(x²)) − GELU(x)| over [−1e4, 1e4] is 9.4e-8 (tests/lowering/ops/test_activation.py
# checks it against math.erf); q > 0 beyond the fit, so h grows with |x| and σ saturates to 0 or 1 as
# GELU's Φ does (an overflow of x·q(x²) to ±inf gives σ = 0 or 1, never NaN).
GELU_ERF_Q = (1.59576843, 7.26685638e-2, -6.62575334e-5, -1.10481055e-4, 7.93831961e-6, -2.66899013e-7,
              3.61137089e-9)
# torch's tanh GELU, 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(2√(2/π)·x·(1 + 0.044715x²)) exactly
# ((1 + tanh u)/2 = σ(2u)): the same form with q of degree 1 (torch.nn.GELU documentation).
GELU_TANH_Q = (2.0 * math.sqrt(2.0 / math.pi), 2.0 * math.sqrt(2.0 / math.pi) * 0.044715)


def sigmoid_gate(ctx, x, coefficients: tuple[float, ...], role=None):
    """x·σ(x·q(x²)) for q = Σ cᵢ sⁱ (``coefficients`` c₀…c_d): Eltwise PROD for x², Horner's rule as
    PROD + Scale (shift) per degree, PROD, Sigmoid, PROD — on the 4-D view of x, no Power or Exp (MNN runs
    those as an elementwise pow, 30× a Scale): 2d + 4 layers. Rounding: one per operation, in float32."""
    tag = role or "gelu"
    shape, planes = x.shape, as_planes(ctx, x, role=f"{tag}/as_planes")
    square = eltwise(ctx, [planes, planes], ELTWISE_PROD, role=f"{tag}/square")
    poly = power(ctx, square, scale=coefficients[-1], shift=coefficients[-2], role=f"{tag}/q{len(coefficients) - 2}")
    for i in range(len(coefficients) - 3, -1, -1):
        poly = eltwise(ctx, [poly, square], ELTWISE_PROD, role=f"{tag}/q{i}_times_square")
        poly = power(ctx, poly, shift=coefficients[i], role=f"{tag}/q{i}")
    logit = eltwise(ctx, [planes, poly], ELTWISE_PROD, role=f"{tag}/logit")
    gate = ctx.layer("Sigmoid", [logit], role=f"{tag}/sigmoid", shape=planes.shape)
    result = eltwise(ctx, [planes, gate], ELTWISE_PROD, role=role if len(shape) == 4 or len(shape) < 2 else f"{tag}/y")
    return unplanes(ctx, result, shape, role=role)


# erfc(z) ≈ t·exp(−z² + Σ cᵢ tⁱ), t = 1 / (1 + z/2), z ≥ 0: Numerical Recipes' erfcc (Press, Teukolsky,
# Vetterling, Flannery, "Numerical Recipes in C", 2nd ed., 1992, §6.2, a Chebyshev fit), fractional
# error below 1.2e-7 everywhere (measured here against math.erfc in float64: 1.05e-7 on [0, 12]).
ERFC_COEFFS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
               1.48851587, -0.82215223, 0.17087277)


def erfc_terms(ctx, x, scale: float, tag: str, log_factor: float = 0.0):
    """(|x|, t, e) with erfc(z) = t·e for z = scale·|x|, by erfcc: t = 1/(1 + z/2), e = exp(P(t) − z²) where P
    is the polynomial of ERFC_COEFFS (Horner's rule) plus ``log_factor`` (a constant factor e^log_factor of
    the result, folded into the exponent). Layers: AbsVal, Power, 9 × (Eltwise PROD + Power), Power,
    Eltwise SUM, Exp."""
    magnitude = absolute(ctx, x, role=f"{tag}/abs")
    t = power(ctx, magnitude, power=-1.0, scale=scale / 2.0, shift=1.0, role=f"{tag}/t")
    poly = power(ctx, t, scale=ERFC_COEFFS[-1], shift=ERFC_COEFFS[-2], role=f"{tag}/horner8")
    for i in range(len(ERFC_COEFFS) - 3, -1, -1):
        poly = eltwise(ctx, [poly, t], ELTWISE_PROD, role=f"{tag}/horner{i}_times_t")
        poly = power(ctx, poly, shift=ERFC_COEFFS[i] + (log_factor if i == 0 else 0.0), role=f"{tag}/horner{i}")
    square = power(ctx, magnitude, power=2.0, scale=scale, role=f"{tag}/square")
    exponent = eltwise(ctx, [poly, square], ELTWISE_SUM, coeffs=[1.0, -1.0], role=f"{tag}/exponent")
    return magnitude, t, exponential(ctx, exponent, role=f"{tag}/exp")


def gelu_erf(ctx, x, role=None):
    """GELU with erf, x·Φ(x), as x·σ(x·q(x²)) (GELU_ERF_Q): absolute error ≤ 9.4e-8 for every float32 x, 16
    layers, all cheap in pycaffe, OpenCV and MNN (on (1, 197, 768): OpenCV 3.1 → 1.3 ms, MNN 12.1 → 0.37 ms
    against the erfc composition with Power and Exp it replaces; issue 21)."""
    return sigmoid_gate(ctx, x, GELU_ERF_Q, role)


@handles("erf", lowering="x·(abs(x) + 1e-30)⁻¹·(1 − erfc(abs(x))), erfc by Numerical Recipes' erfcc (rel. error < 1.2e-7) "
                         "with AbsVal/Power/Eltwise/Exp (27 layers)")
def erf(op, ctx):
    """erf(x) = sign(x)·(1 − erfc(|x|)). sign(x) is x·(|x| + 1e-30)⁻¹ (a Power with shift 1e-30): exactly ±1
    in float32 wherever |x| ≥ 1e-22 (adding 1e-30 leaves |x| unchanged) and 0 at 0, where erf is 0 too.
    The absolute error is erfcc's (< 1.2e-7 · erfc ≤ 1.2e-7) plus float32 rounding; measured 2.4e-7 on
    [−6, 6] in pycaffe, OpenCV and MNN."""
    x = _input(op, ctx)
    magnitude, t, decay = erfc_terms(ctx, x, 1.0, "erf")
    complement = eltwise(ctx, [t, decay], ELTWISE_PROD, role="erf/erfc")
    one_minus = power(ctx, complement, scale=-1.0, shift=1.0, role="erf/one_minus_erfc")
    inverse = power(ctx, magnitude, power=-1.0, shift=1e-30, role="erf/inverse_abs")
    return eltwise(ctx, [x, inverse, one_minus], ELTWISE_PROD)


@handles("gelu", lowering="x·Sigmoid(x·q(x²)): erf form with q of degree 6 fitted to logit Φ (|error| ≤ 9.4e-8), "
                          "tanh form with q = 2√(2/π)(1 + 0.044715x²) (exact); Eltwise PROD, Scale, Sigmoid")
def gelu(op, ctx):
    """torch's GELU. The tanh form is written as x·sigmoid(2u), the same function: MNN 3.6.1's converter fuses
    the tanh spelling into a GELU that is wrong there (measured: 28× relative error); this one runs everywhere."""
    x = _input(op, ctx)
    tanh_form = op.arg(1, "approximate", "none") == "tanh"  # torch itself accepts only 'none' and 'tanh'
    return sigmoid_gate(ctx, x, GELU_TANH_Q if tanh_form else GELU_ERF_Q)


def _softmax_axis(op) -> int:
    """The axis of a (log_)softmax: ``dim``, or without one torch's implicit dim (0 for 0-, 1- and 3-D inputs,
    else 1)."""
    dim, rank = op.arg(1, "dim"), len(op.arg(0, "input").shape)
    return normalize_dim(int(dim), rank) if dim is not None else 0 if rank in (0, 1, 3) else 1


def _softmax(op, ctx, role=None):
    """Softmax over _softmax_axis(op)."""
    x, axis = op.arg(0, "input"), _softmax_axis(op)
    rank = len(x.shape)
    if rank == 1:  # MNN 3.6.1 miscomputes (or aborts on) a Softmax over a 1-D blob: run it on a (1, N) view
        row = reshape(ctx, ctx.blob(x), (1,) + tuple(x.shape), role=f"{role or 'softmax'}/row")
        values = ctx.layer("Softmax", [row], {"softmax_param": {"axis": 1}}, role=f"{role or 'softmax'}/on_row",
                           shape=row.shape)
        return reshape(ctx, values, tuple(x.shape), role=role)
    plain = Form("Softmax", lambda ctx: ctx.layer("Softmax", [ctx.blob(x)], {"softmax_param": {"axis": axis}},
                                                  role=role))
    if axis == rank - 1:
        return plain.emit(ctx)
    # MNN skips the max subtraction over an axis of < 8 entries with > 8 positions after it (its target rule
    # mnn.softmax): SKNet's branch attention (N, 2, C), a segmentation map's channel softmax
    return ctx.choose(plain, Form("Softmax on the last axis", lambda ctx: _softmax_on_last_axis(ctx, ctx.blob(x),
                                                                                               axis, role)))


def _softmax_on_last_axis(ctx, x, axis: int, role):
    """Softmax over ``axis`` as Permute (axis last) → Softmax on the last axis → Permute back (MNN form)."""
    tag = role or "softmax"
    order = [a for a in range(len(x.shape)) if a != axis] + [axis]
    moved = permute(ctx, x, order, role=f"{tag}/axis_last")
    values = ctx.layer("Softmax", [moved], {"softmax_param": {"axis": len(order) - 1}}, role=f"{tag}/on_last_axis",
                       shape=moved.shape)
    return permute(ctx, values, [order.index(a) for a in range(len(order))], role=role)


@handles("softmax", lowering="Softmax (axis); where the target refuses that (MNN: an axis of < 8 entries with > 8 "
                             "positions after it), Permute that axis last, Softmax, Permute back")
def softmax(op, ctx):
    return _softmax(op, ctx)


@handles("log_softmax", exact=False,
         lowering="Softmax + Log; −inf where the softmax underflows (logit gaps above about 87); where the target "
                  "refuses Log (RKNN): x − log Σ exp x by BNLL pairs (exact)")
def log_softmax(op, ctx):
    return ctx.choose(Form("Softmax + Log", lambda ctx: ctx.layer("Log", [_softmax(op, ctx, role="softmax")],
                                                                  NATURAL_LOG)),
                      Form("x − log Σ exp x", _minus_log_sum_exp))


def _minus_log_sum_exp(ctx):
    """x − logsumexp(x) over the softmax axis (compose.log_sum_exp, then broadcast back and subtracted)."""
    axis, blob = _softmax_axis(ctx.op), ctx.blob(ctx.op.arg(0, "input"))
    total = broadcast_to(ctx, log_sum_exp(ctx, blob, axis), blob.shape, role="logsumexp/spread")
    return eltwise(ctx, [blob, total], ELTWISE_SUM, coeffs=[1.0, -1.0])
