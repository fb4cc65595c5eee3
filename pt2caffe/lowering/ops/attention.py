"""Attention handlers: F.scaled_dot_product_attention, nn.MultiheadAttention (F.multi_head_attention_forward)
and PyTorch's fused inference kernels (``_native_multi_head_attention``, ``_transformer_encoder_layer_fwd``),
decomposed by :mod:`pt2caffe.lowering.ops.multihead` (which states the layers and their cost) into layers every
Caffe runtime has.

Masks must be constants (bool or float, broadcast as torch does); dropout must be off (eval mode);
bias_k/bias_v, add_zero_attn and static keys are refused with a message.
"""
from __future__ import annotations

import math

import torch

from ...graph import Const, Value
from ...net.builder import Blob
from ..compose import ELTWISE_SUM, eltwise, permute, relu
from ..registry import handles
from .activation import gelu_erf
from .multihead import attend, linear_rows, multi_head
from .normalization import layer_norm_blob
from .products import reshape_leading


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
         lowering="batched products (K on channels, chunked: copies of ones + Eltwise PROD + 1×1 Convolution, scale "
                  "folded in) for K Qᵀ (scores transposed) and PV, Scale (bias) for a constant/causal mask, Softmax "
                  "on axis 1 of a (T, S, L, 1) view")
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
    q_t = permute(ctx, q, [0, 2, 1], role="q_transposed")
    k_t = permute(ctx, k, [0, 2, 1], role="k_transposed")
    scale = 1.0 / math.sqrt(depth) if scale is None else float(scale)
    out, _ = attend(ctx, q_t, k_t, v, scale=scale, mask=additive)
    return reshape_leading(ctx, out, ctx.out_shape)


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
         lowering="nn.MultiheadAttention: in/out projections as InnerProducts on (rows, E) views (one "
                  "+ Slice when packed and q = k = v), Reshape/Permute per head, attention as "
                  "scaled_dot_product_attention, head-mean of the weights by a 1×1 Convolution")
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
        in_biases = _split_bias(get("in_proj_bias"), in_weights[0].shape[0])
    else:
        in_weights, in_biases = get("in_proj_weight"), get("in_proj_bias")
    wanted = None
    if len(op.outputs) > 1 and ctx.is_used(1):
        wanted = "average" if get("average_attn_weights") else "per_head"
    out, weights = multi_head(ctx, *blobs, heads=heads, seq_first=True, in_weights=in_weights, in_biases=in_biases,
                              out_weight=get("out_proj_weight"), out_bias=get("out_proj_bias"), mask=mask,
                              weights_wanted=wanted)
    return _outputs(ctx, op, out, weights)


def _split_bias(bias: Const | None, embed: int) -> list[Const | None]:
    """The packed in_proj_bias as three Consts (q, k, v), or three Nones."""
    if bias is None:
        return [None] * 3
    parts = [(i * embed, (i + 1) * embed) for i in range(3)]
    return [Const(bias.tensor[a:b], bias.keys, f"{bias.describe()}[{a}:{b}]") for a, b in parts]


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
                  "LayerNorm as layer_norm, feed-forward as two InnerProducts (rows views) with ReLU or GELU (erf), "
                  "Eltwise SUM residuals; norm_first both ways")
def transformer_encoder_layer_fwd(op, ctx):
    """nn.TransformerEncoderLayer: x + SA(LN1(x)), then + FF(LN2(·)) (norm_first); else LN1(x + SA(x)), then
    LN2(· + FF(·))."""
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
        hidden = linear_rows(ctx, y, args["ffn_weight_1"], args["ffn_bias_1"], "linear1")
        hidden = gelu_erf(ctx, hidden, role="gelu") if args["use_gelu"] else relu(ctx, hidden, role="relu")
        return linear_rows(ctx, hidden, args["ffn_weight_2"], args["ffn_bias_2"], "linear2")

    def norm(y, index):
        return layer_norm_blob(ctx, y, 1, eps, args[f"norm_weight_{index}"], args[f"norm_bias_{index}"])

    for index, block in ((1, attention_block), (2, feed_forward)):
        if args["norm_first"]:
            x = eltwise(ctx, [x, block(norm(x, index))], ELTWISE_SUM, role=f"residual{index}")
        else:
            x = norm(eltwise(ctx, [x, block(x)], ELTWISE_SUM, role=f"residual{index}"), index)
    return reshape_leading(ctx, x, ctx.out_shape)
