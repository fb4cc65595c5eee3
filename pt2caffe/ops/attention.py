"""Attention: F.scaled_dot_product_attention, nn.MultiheadAttention (F.multi_head_attention_forward)
and PyTorch's fused inference kernels (``_native_multi_head_attention``, ``_transformer_encoder_layer_fwd``),
decomposed into layers every Caffe runtime has.

softmax(scale · Q Kᵀ + mask) V, per batch and head (PyTorch's documented maths for
``scaled_dot_product_attention`` and ``MultiheadAttention``):

- projections (in_proj, out_proj, the feed-forward of an encoder layer): a 1×1 Convolution on the
  rows, the input Reshaped to (−1, E, 1, 1) — the weights as (out, in, 1, 1). When query, key
  and value are one tensor, the packed in-projection is one Convolution with 3E outputs and a
  Slice;
- heads: Reshape to (·, ·, H, d) and one Permute per operand to (batch, H, ·, ·);
- Q Kᵀ and P V: :func:`pt2caffe.ops.products.batched_product`, the scale folded into its sum
  (costs there: three blobs of N·H·L·S·d floats per product);
- a constant mask (boolean → −∞, replaced by −1e30 so that no runtime meets inf·0; exp of
  either is 0 in float32): a one-bottom Scale (bias) on the (−1, L·S, 1, 1) view of the scores;
- softmax over S: Softmax on the channel axis of a (−1, S, 1, 1) view;
- averaged attention weights (need_weights): a 1×1 Convolution over the H heads with weights 1/H.

Dropout must be off (eval mode); bias_k/bias_v, add_zero_attn, static keys and traced masks are
refused with a message.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..builder import Blob
from ..tracer import Const, Value
from .activation import gelu_erf
from .common import ELTWISE_SUM, eltwise, permute, relu, slice_parts
from .normalization import layer_norm_blob
from .products import batched_product, reshape_leading
from .registry import handles

MASKED = -1e30  # stands for −inf in a mask: exp(MASKED − max) is 0 in float32, as exp(−inf)


def rows_linear(ctx, x: Blob, weight, bias, *, role: str) -> Blob:
    """x @ Wᵀ + b over the last axis of ``x`` (any rank), as a 1×1 Convolution; returns (rows, out, 1, 1).

    ``weight``/``bias`` are :class:`~pt2caffe.builder.Weight` blobs shaped (out, in, 1, 1) and (out,).
    A Convolution rather than an InnerProduct: MNN 3.6.1 gives an empty output for an InnerProduct
    after a Reshape that changes the leading axis.
    """
    features, width = weight.array.shape[:2]
    rows = reshape_leading(ctx, x, (int(np.prod(x.shape)) // width, width, 1, 1), role=f"{role}/rows")
    params = {"num_output": int(features), "bias_term": bias is not None, "kernel_size": [1]}
    return ctx.layer("Convolution", [rows], {"convolution_param": params}, role=role,
                     weights=[weight] + ([bias] if bias is not None else []), shape=(rows.shape[0], features, 1, 1))


def _conv_weight(ctx, const: Const, start: int, stop: int):
    """Rows start:stop of a (out, in) weight as (out, in, 1, 1) Convolution weights."""
    part = const.tensor[start:stop]
    whole = (start, stop) == (0, const.shape[0])
    how = ("" if whole else f"rows {start}:{stop}, ") + "as (out, in, 1, 1)"
    return ctx.weight(const, part.reshape(*part.shape, 1, 1), how)


def _bias(ctx, const: Const | None, start: int, stop: int):
    if const is None:
        return None
    whole = (start, stop) == (0, const.shape[0])
    return ctx.weight(const, const.tensor[start:stop], None if whole else f"elements {start}:{stop}")


def _linear(ctx, x: Blob, weight: Const, bias: Const | None, role: str, start: int = 0, stop: int | None = None):
    stop = weight.shape[0] if stop is None else stop
    return rows_linear(ctx, x, _conv_weight(ctx, weight, start, stop), _bias(ctx, bias, start, stop), role=role)


# --- the attention core ---------------------------------------------------------------------------

def _additive_mask(ctx, scores: Blob, mask: torch.Tensor, role: str) -> Blob:
    """scores (T, L, S) + a constant additive mask broadcastable to it (a Scale with bias)."""
    count, length, source = scores.shape
    full = torch.broadcast_to(mask.to(torch.float64), (count, length, source))
    full = torch.where(torch.isneginf(full), torch.full_like(full, MASKED), full)
    shared = bool((full == full[:1]).all())
    values = full[0].reshape(-1) if shared else full.reshape(-1)
    view = (count, length * source, 1, 1) if shared else (1, count * length * source, 1, 1)
    blob = reshape_leading(ctx, scores, view, role=f"{role}/as_channels") if shared else ctx.layer(
        "Reshape", [scores], {"reshape_param": {"shape": {"dim": list(view)}}}, role=f"{role}/as_channels", shape=view)
    ones = ctx.constant(np.ones(values.numel()), "unit scale")
    bias = ctx.constant(values.numpy(), f"attention mask ({MASKED:g} for −inf / masked)")
    return ctx.layer("Scale", [blob], {"scale_param": {"bias_term": True}}, weights=[ones, bias],
                     role=role, shape=view)


def attend(ctx, q: Blob, k: Blob, v_t: Blob, *, scale: float, mask: torch.Tensor | None,
           role: str = "attention") -> tuple[Blob, Blob]:
    """softmax(scale · q kᵀ + mask) v for q (T, L, d), k (T, S, d) and vᵀ (T, dv, S).

    Returns (output (T, L, dv), probabilities (T, L, S)). ``mask`` is a float tensor broadcastable
    to (T, L, S) (−inf allowed) or None.
    """
    count, length, source = q.shape[0], q.shape[1], k.shape[1]
    scores = batched_product(ctx, q, k, a_k_last=True, b_k_last=True, scale=scale, role=f"{role}/scores")
    if mask is not None:
        scores = _additive_mask(ctx, scores, mask, f"{role}/masked")
    rows = reshape_leading(ctx, scores, (count * length, source, 1, 1), role=f"{role}/score_rows")
    probs = ctx.layer("Softmax", [rows], {"softmax_param": {"axis": 1}}, role=f"{role}/softmax", shape=rows.shape)
    probs = reshape_leading(ctx, probs, (count, length, source), role=f"{role}/weights")
    out = batched_product(ctx, probs, v_t, a_k_last=True, b_k_last=True, role=f"{role}/output")
    return out, probs


def causal_mask(length: int, source: int) -> torch.Tensor:
    """0 where j ≤ i, −inf above the diagonal (torch's is_causal: ones(L, S).tril(0))."""
    allowed = torch.ones(length, source, dtype=torch.bool).tril(diagonal=0)
    return torch.zeros(length, source).masked_fill(~allowed, float("-inf"))


def _float_mask(ctx, mask, what: str, true_means_masked: bool) -> torch.Tensor | None:
    """A constant mask as an additive float tensor; a traced mask is refused."""
    if mask is None:
        return None
    if isinstance(mask, Value):
        raise ctx.fail(f"the {what} is computed from the inputs; only a constant mask is supported")
    tensor = mask.tensor
    if tensor.dtype == torch.bool:
        masked = tensor if true_means_masked else ~tensor
        return torch.zeros(tensor.shape).masked_fill(masked, float("-inf"))
    return tensor.to(torch.float64)


def _combine(*masks) -> torch.Tensor | None:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    total = present[0]
    for mask in present[1:]:
        total = total + mask
    return total


# --- F.scaled_dot_product_attention ----------------------------------------------------------------

@handles("scaled_dot_product_attention",
         lowering="batched products (Deconvolution ones ×2 + Eltwise PROD + 1×1 Convolution, scale folded in) "
                  "for QKᵀ and PV, Scale (bias) for a constant/causal mask, Softmax on a (−1, S, 1, 1) view")
def scaled_dot_product_attention(op, ctx):
    query, key, value = op.arg(0, "query"), op.arg(1, "key"), op.arg(2, "value")
    mask, dropout, causal = op.arg(3, "attn_mask"), float(op.arg(4, "dropout_p", 0.0)), op.arg(5, "is_causal", False)
    scale, gqa = op.arg(6, "scale"), op.arg(7, "enable_gqa", False)
    if dropout != 0.0:
        raise ctx.fail(f"dropout_p={dropout:g}: attention dropout is random; export needs dropout_p=0")
    for tensor in (query, key, value):
        if not isinstance(tensor, Value):
            raise ctx.fail("a constant query, key or value is not supported; all three must be traced tensors")
    if gqa or query.shape[:-2] != key.shape[:-2] or key.shape[:-1] != value.shape[:-1]:
        raise ctx.fail(f"query {list(query.shape)}, key {list(key.shape)}, value {list(value.shape)}: only equal "
                       "batch axes (no broadcasting, no grouped-query attention) are supported")
    length, source, depth = query.shape[-2], key.shape[-2], query.shape[-1]
    count = math.prod(query.shape[:-2])
    additive = _combine(_float_mask(ctx, mask, "attn_mask", true_means_masked=False),
                        causal_mask(length, source) if causal else None)
    if additive is not None:
        additive = torch.broadcast_to(additive, tuple(query.shape[:-1]) + (source,)).reshape(count, length, source)
    q = reshape_leading(ctx, ctx.blob(query), (count, length, depth), role="q")
    k = reshape_leading(ctx, ctx.blob(key), (count, source, depth), role="k")
    v = reshape_leading(ctx, ctx.blob(value), (count, source, value.shape[-1]), role="v")
    v_t = permute(ctx, v, [0, 2, 1], role="v_transposed")
    scale = 1.0 / math.sqrt(depth) if scale is None else float(scale)
    out, _ = attend(ctx, q, k, v_t, scale=scale, mask=additive)
    return reshape_leading(ctx, out, ctx.out_shape)


# --- multi-head attention -----------------------------------------------------------------------------

# Permute orders of a (A0, A1, H, d) view: to (batch, H, seq, d), to (batch, H, d, seq), and back.
_TO_HEADS = {True: [1, 2, 0, 3], False: [0, 2, 1, 3]}
_TO_HEADS_T = {True: [1, 2, 3, 0], False: [0, 2, 3, 1]}
_FROM_HEADS = {True: [2, 0, 1, 3], False: [0, 2, 1, 3]}


def _split_heads(ctx, rows: Blob, layout: tuple[int, int], heads: int, seq_first: bool, transposed: bool,
                 role: str) -> Blob:
    """Projected rows (A0·A1, E, 1, 1) → (batch·H, seq, d), or (batch·H, d, seq) when ``transposed``."""
    depth = rows.shape[1] // heads
    view = reshape_leading(ctx, rows, layout + (heads, depth), role=f"{role}/heads")
    order = (_TO_HEADS_T if transposed else _TO_HEADS)[seq_first]
    moved = permute(ctx, view, order, role=f"{role}/by_head")
    batch, seq = (layout[1], layout[0]) if seq_first else layout
    return reshape_leading(ctx, moved, (batch * heads,) + ((depth, seq) if transposed else (seq, depth)),
                           role=f"{role}/batched")


def _in_projections(ctx, query: Blob, key: Blob, value: Blob, weights, biases) -> list[Blob]:
    """q, k, v rows (·, E, 1, 1). ``weights``: one packed (3E, E) Const or three Consts; ``biases`` likewise."""
    if not isinstance(weights, Const):  # separate q/k/v weights
        return [_linear(ctx, x, w, b, f"in_proj_{name}") for x, w, b, name in
                zip((query, key, value), weights, biases, "qkv")]
    embed = weights.shape[0] // 3
    if query is key is value:  # the packed projection: one Convolution, then a Slice
        fused = _linear(ctx, query, weights, biases, "in_proj")
        return slice_parts(ctx, fused, 1, [embed] * 3, role="in_proj/split")
    return [_linear(ctx, x, weights, biases, f"in_proj_{name}", i * embed, (i + 1) * embed)
            for i, (x, name) in enumerate(zip((query, key, value), "qkv"))]


def multi_head(ctx, query: Blob, key: Blob, value: Blob, *, heads: int, seq_first: bool, in_weights, in_biases,
               out_weight: Const, out_bias: Const | None, mask: torch.Tensor | None,
               weights_wanted: str | None) -> tuple[Blob, Blob | None]:
    """Multi-head attention of 3-D blobs (L, N, E) when ``seq_first``, else (N, L, E).

    ``mask``: additive, broadcastable to (N·H, L, S). ``weights_wanted``: None, "average" (N, L, S)
    or "per_head" (N, H, L, S). Returns (output shaped like ``query``, attention weights or None).
    """
    q_layout, k_layout = query.shape[:2], key.shape[:2]
    q, k, v = _in_projections(ctx, query, key, value, in_weights, in_biases)
    depth = q.shape[1] // heads
    q = _split_heads(ctx, q, q_layout, heads, seq_first, False, "q")
    k = _split_heads(ctx, k, k_layout, heads, seq_first, False, "k")
    v_t = _split_heads(ctx, v, k_layout, heads, seq_first, True, "v")
    out, probs = attend(ctx, q, k, v_t, scale=1.0 / math.sqrt(depth), mask=mask)
    batch, length = q_layout[::-1] if seq_first else q_layout
    out = reshape_leading(ctx, out, (batch, heads, length, depth), role="heads_out")
    out = permute(ctx, out, _FROM_HEADS[seq_first], role="merge_heads")
    out = _linear(ctx, out, out_weight, out_bias, "out_proj")
    out = reshape_leading(ctx, out, tuple(query.shape[:2]) + (out_weight.shape[0],), role="output")
    return out, _attention_weights(ctx, probs, batch, heads, weights_wanted)


def _attention_weights(ctx, probs: Blob, batch: int, heads: int, wanted: str | None) -> Blob | None:
    """The softmax weights (N·H, L, S) as (N, H, L, S), or averaged over heads (N, L, S) by a 1×1 Convolution."""
    if wanted is None:
        return None
    length, source = probs.shape[1:]
    per_head = reshape_leading(ctx, probs, (batch, heads, length, source), role="attention_weights_by_head")
    if wanted == "per_head":
        return per_head
    weight = ctx.constant(np.full((1, heads, 1, 1), 1.0 / heads), f"1/{heads}: mean over heads")
    params = {"num_output": 1, "bias_term": False, "kernel_size": [1]}
    mean = ctx.layer("Convolution", [per_head], {"convolution_param": params}, weights=[weight],
                     role="attention_weights_mean", shape=(batch, 1, length, source))
    return reshape_leading(ctx, mean, (batch, length, source), role="attention_weights")


def _traced(ctx, *tensors) -> list[Blob]:
    for tensor in tensors:
        if not isinstance(tensor, Value):
            raise ctx.fail("a constant query, key or value is not supported; all three must be traced tensors")
    return [ctx.blob(tensor) for tensor in tensors]


def _batched(ctx, blob: Blob, batched: bool, seq_first: bool) -> Blob:
    """An unbatched (L, E) input as the 3-D layout with a batch of 1."""
    if batched:
        return blob
    shape = (blob.shape[0], 1, blob.shape[1]) if seq_first else (1,) + blob.shape
    return ctx.layer("Reshape", [blob], {"reshape_param": {"shape": {"dim": list(shape)}}}, role="batched",
                     shape=shape)


def _batched_inputs(ctx, query, key, value, *, seq_first: bool) -> list[Blob]:
    """The three inputs as 3-D blobs (one blob, shared, when query, key and value are one tensor)."""
    tensors = [query] if query is key is value else [query, key, value]
    blobs = [_batched(ctx, blob, len(query.shape) == 3, seq_first) for blob in _traced(ctx, *tensors)]
    return blobs * 3 if len(blobs) == 1 else blobs


def _outputs(ctx, op, out: Blob, weights: Blob | None):
    """Blobs for the op's outputs (the output, then the weights when torch returned them), shaped as torch's."""
    result = [reshape_leading(ctx, out, op.outputs[0].shape, role="unbatched")]
    if len(op.outputs) > 1:
        result.append(reshape_leading(ctx, weights, op.outputs[1].shape, role="weights_unbatched")
                      if weights is not None else None)
    return result


def _mha_mask(ctx, attn_mask, key_padding_mask, batch: int, heads: int, length: int, source: int):
    """MultiheadAttention's masks (bool: True = masked) as one additive (N·H, L, S) tensor, or None."""
    attn = _float_mask(ctx, attn_mask, "attn_mask", true_means_masked=True)
    padding = _float_mask(ctx, key_padding_mask, "key_padding_mask", true_means_masked=True)
    if attn is not None and attn.dim() == 3:
        attn = attn.reshape(batch, heads, length, source)
    if padding is not None:
        padding = padding.reshape(batch, 1, 1, source)
    total = _combine(attn, padding)
    return None if total is None else torch.broadcast_to(total, (batch, heads, length, source)).reshape(
        batch * heads, length, source)


@handles("multi_head_attention_forward",
         lowering="nn.MultiheadAttention: 1×1 Convolutions for in/out projections (one + Slice when packed "
                  "and q = k = v), Reshape/Permute per head, attention as scaled_dot_product_attention, "
                  "head-mean of the weights by a 1×1 Convolution")
def multi_head_attention_forward(op, ctx):
    args = dict(zip(_MHA_ARGS, op.args)) | op.kwargs
    get = lambda name: args.get(name, _MHA_DEFAULTS.get(name))  # noqa: E731
    if get("bias_k") is not None or get("bias_v") is not None or get("add_zero_attn"):
        raise ctx.fail("add_bias_kv / add_zero_attn are not supported")
    if get("static_k") is not None or get("static_v") is not None:
        raise ctx.fail("static_k / static_v are not supported")
    if get("training") and float(get("dropout_p")) > 0:
        raise ctx.fail("attention dropout is active (training mode); call model.eval() before exporting")
    query, key, value = op.arg(0, "query"), op.arg(1, "key"), op.arg(2, "value")
    heads = int(get("num_heads"))
    blobs = _batched_inputs(ctx, query, key, value, seq_first=True)
    length, batch = blobs[0].shape[:2]
    source = blobs[1].shape[0]
    mask_arg = get("attn_mask")
    if get("is_causal") and get("key_padding_mask") is None and not get("need_weights"):
        mask_arg = Const(causal_mask(length, source) == float("-inf"))  # torch then uses SDPA's is_causal
    mask = _mha_mask(ctx, mask_arg, get("key_padding_mask"), batch, heads, length, source)
    if get("use_separate_proj_weight"):
        in_weights = [get("q_proj_weight"), get("k_proj_weight"), get("v_proj_weight")]
        bias = get("in_proj_bias")
        embed = in_weights[0].shape[0]
        in_biases = [None] * 3 if bias is None else [
            Const(bias.tensor[i * embed:(i + 1) * embed], bias.keys, f"{bias.describe()}[{i * embed}:{(i + 1) * embed}]")
            for i in range(3)]
    else:
        in_weights, in_biases = get("in_proj_weight"), get("in_proj_bias")
    wanted = None
    if len(op.outputs) > 1 and ctx.is_used(1):
        wanted = "average" if get("average_attn_weights") else "per_head"
    out, weights = multi_head(ctx, *blobs, heads=heads, seq_first=True, in_weights=in_weights, in_biases=in_biases,
                              out_weight=get("out_proj_weight"), out_bias=get("out_proj_bias"), mask=mask,
                              weights_wanted=wanted)
    return _outputs(ctx, op, out, weights)


_MHA_ARGS = ("query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias", "bias_k",
             "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias", "training",
             "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight", "q_proj_weight",
             "k_proj_weight", "v_proj_weight", "static_k", "static_v", "average_attn_weights", "is_causal")
_MHA_DEFAULTS = {"training": True, "need_weights": True, "use_separate_proj_weight": False,
                 "average_attn_weights": True, "is_causal": False}


# --- PyTorch's fused inference kernels (batch first) -------------------------------------------------------

def _native_mask(ctx, mask, mask_type, batch: int, heads: int, length: int, source: int):
    """The fast path's mask (bool: True = masked; float: added) by ``mask_type``: 0 = (L, S) attention mask,
    1 = (N, S) key padding, 2 = broadcastable to (N, H, L, S); as an additive (N·H, L, S) tensor."""
    additive = _float_mask(ctx, mask, "mask", true_means_masked=True)
    if additive is None:
        return None
    if mask_type == 1:
        additive = additive.reshape(batch, 1, 1, source)
    return torch.broadcast_to(additive, (batch, heads, length, source)).reshape(batch * heads, length, source)


@handles("_native_multi_head_attention",
         lowering="MultiheadAttention's fast path (batch first): as multi_head_attention_forward")
def native_multi_head_attention(op, ctx):
    query, key, value = op.arg(0, "query"), op.arg(1, "key"), op.arg(2, "value")
    heads = int(op.arg(4, "num_head"))
    blobs = _batched_inputs(ctx, query, key, value, seq_first=False)
    batch, length = blobs[0].shape[:2]
    mask = _native_mask(ctx, op.arg(9, "mask"), op.arg(12, "mask_type"), batch, heads, length, blobs[1].shape[1])
    wanted = None
    if op.arg(10, "need_weights", True) and len(op.outputs) > 1 and ctx.is_used(1):
        wanted = "average" if op.arg(11, "average_attn_weights", True) else "per_head"
    out, weights = multi_head(ctx, *blobs, heads=heads, seq_first=False, in_weights=op.arg(5, "qkv_weight"),
                              in_biases=op.arg(6, "qkv_bias"), out_weight=op.arg(7, "proj_weight"),
                              out_bias=op.arg(8, "proj_bias"), mask=mask, weights_wanted=wanted)
    return _outputs(ctx, op, out, weights)


_ENCODER_ARGS = ("src", "embed_dim", "num_heads", "qkv_weight", "qkv_bias", "proj_weight", "proj_bias", "use_gelu",
                 "norm_first", "eps", "norm_weight_1", "norm_bias_1", "norm_weight_2", "norm_bias_2",
                 "ffn_weight_1", "ffn_bias_1", "ffn_weight_2", "ffn_bias_2", "mask", "mask_type")


@handles("_transformer_encoder_layer_fwd",
         lowering="TransformerEncoderLayer's fast path: self-attention as multi_head_attention_forward, "
                  "LayerNorm as layer_norm, feed-forward as two 1×1 Convolutions with ReLU or GELU (erf), "
                  "Eltwise SUM residuals; norm_first both ways")
def transformer_encoder_layer_fwd(op, ctx):
    """x + SA(LN1(x)), then + FF(LN2(·)) (norm_first); else LN1(x + SA(x)), then LN2(· + FF(·)) — nn.TransformerEncoderLayer."""
    args = dict(zip(_ENCODER_ARGS, op.args)) | op.kwargs
    src = args["src"]
    x = _batched(ctx, _traced(ctx, src)[0], len(src.shape) == 3, False)
    heads, eps = int(args["num_heads"]), float(args["eps"])
    batch, length = x.shape[:2]
    mask = _native_mask(ctx, args.get("mask"), args.get("mask_type"), batch, heads, length, length)

    def attention_block(y):
        out, _ = multi_head(ctx, y, y, y, heads=heads, seq_first=False, in_weights=args["qkv_weight"],
                            in_biases=args["qkv_bias"], out_weight=args["proj_weight"], out_bias=args["proj_bias"],
                            mask=mask, weights_wanted=None)
        return out

    def feed_forward(y):
        hidden = _linear(ctx, y, args["ffn_weight_1"], args["ffn_bias_1"], "linear1")
        hidden = gelu_erf(ctx, hidden, role="gelu") if args["use_gelu"] else relu(ctx, hidden, role="relu")
        out = _linear(ctx, hidden, args["ffn_weight_2"], args["ffn_bias_2"], "linear2")
        return reshape_leading(ctx, out, y.shape, role="feed_forward")

    def norm(y, index):
        return layer_norm_blob(ctx, y, 1, eps, args[f"norm_weight_{index}"], args[f"norm_bias_{index}"])

    for index, block in ((1, attention_block), (2, feed_forward)):
        if args["norm_first"]:
            x = eltwise(ctx, [x, block(norm(x, index))], ELTWISE_SUM, role=f"residual{index}")
        else:
            x = norm(eltwise(ctx, [x, block(x)], ELTWISE_SUM, role=f"residual{index}"), index)
    return reshape_leading(ctx, x, ctx.out_shape)
