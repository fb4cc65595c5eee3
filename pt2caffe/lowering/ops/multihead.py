"""The multi-head attention computation shared by the attention handlers (no handlers here).

softmax(scale · Q Kᵀ + mask) V per batch and head (PyTorch's documented maths for
``scaled_dot_product_attention`` and ``MultiheadAttention``):

- projections (in_proj, out_proj, an encoder layer's feed-forward): ``compose.inner_product`` (one
  InnerProduct on the (rows, E) view). When query, key and value are one tensor, the packed
  in-projection is one product with 3E outputs and a Slice;
- heads: Reshape to (·, ·, H, d) and one Permute per operand to (batch, H, d, ·) for Q and K (d is the
  products' channel axis), (batch, H, ·, d) for V;
- K Qᵀ and P V: :func:`pt2caffe.lowering.ops.products.batched_product`, the scale folded into its sum
  (costs there);
- a constant mask (−∞ written as −1e30, so that no runtime meets inf·0; exp of either is 0 in
  float32): a one-bottom Scale (bias) on the (−1, L·S, 1, 1) view of the scores;
- softmax over S: the scores are made transposed (T, S, L), so Softmax on the channel axis of a
  (T, S, L, 1) view, and the probabilities are the product with V's operand as they are;
- averaged attention weights (need_weights): a 1×1 Convolution over the H heads with weights 1/H.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...graph import Const
from ...net.builder import Blob
from ..compose import inner_product, permute, slice_parts
from .products import batched_product, reshape_leading

MASKED = -1e30  # stands for −inf in a mask: exp(MASKED − max) is 0 in float32, as exp(−inf)


def linear_rows(ctx, x: Blob, weight: Const, bias: Const | None, role: str, start: int = 0,
                stop: int | None = None, axis: int | None = None) -> Blob:
    """x @ W[start:stop]ᵀ + b[start:stop] over x's axes from ``axis`` (default: the last) for (out, in)
    parameters ``weight``/``bias``: :func:`pt2caffe.lowering.compose.inner_product` (one InnerProduct, on the
    (rows, in) view for rank > 2)."""
    stop = weight.shape[0] if stop is None else stop
    whole = (start, stop) == (0, weight.shape[0])
    weights = [ctx.weight(weight, weight.tensor[start:stop], None if whole else f"rows {start}:{stop}")]
    if bias is not None:
        weights.append(ctx.weight(bias, bias.tensor[start:stop], None if whole else f"elements {start}:{stop}"))
    return inner_product(ctx, x, weights, stop - start, axis=axis, role=role)


def _additive_mask(ctx, scores_t: Blob, mask: torch.Tensor, role: str) -> Blob:
    """scoresᵀ (T, S, L) + a constant additive mask broadcastable to the scores (T, L, S) (a Scale with bias)."""
    count, source, length = scores_t.shape
    full = torch.broadcast_to(mask.to(torch.float64), (count, length, source)).transpose(1, 2)
    full = torch.where(torch.isneginf(full), torch.full_like(full, MASKED), full)
    shared = bool((full == full[:1]).all())
    values = full[0].reshape(-1) if shared else full.reshape(-1)
    view = (count, length * source, 1, 1) if shared else (1, count * length * source, 1, 1)
    blob = reshape_leading(ctx, scores_t, view, role=f"{role}/as_channels") if shared else ctx.layer(
        "Reshape", [scores_t], {"reshape_param": {"shape": {"dim": list(view)}}}, role=f"{role}/as_channels",
        shape=view)
    ones = ctx.constant(np.ones(values.numel()), "unit scale")
    bias = ctx.constant(values.numpy(), f"attention mask ({MASKED:g} for −inf / masked), transposed")
    masked = ctx.layer("Scale", [blob], {"scale_param": {"bias_term": True}}, weights=[ones, bias],
                       role=role, shape=view)
    return ctx.layer("Reshape", [masked], {"reshape_param": {"shape": {"dim": [-1, source, length]}}},
                     role=f"{role}/unview", shape=scores_t.shape)


def attend(ctx, q_t: Blob, k_t: Blob, v: Blob, *, scale: float, mask: torch.Tensor | None,
           role: str = "attention") -> tuple[Blob, Blob]:
    """softmax(scale · q kᵀ + mask) v for qᵀ (T, d, L), kᵀ (T, d, S) and v (T, S, dv).

    The scores are made transposed, (T, S, L) = k qᵀ, so that the softmax over S is Caffe's own (axis 1
    of a (T, S, L, 1) view, L spatial) and the probabilities are already the (T, K = S, M = L) operand of
    the product with v: no Permute between the two products. Returns (output (T, L, dv), probabilitiesᵀ
    (T, S, L)). ``mask`` is a float tensor broadcastable to (T, L, S) (−inf allowed) or None.
    """
    count, source, length = q_t.shape[0], k_t.shape[2], q_t.shape[2]
    scores_t = batched_product(ctx, k_t, q_t, a_k_last=False, b_k_last=False, scale=scale, role=f"{role}/scores")
    if mask is not None:
        scores_t = _additive_mask(ctx, scores_t, mask, f"{role}/masked")
    planes = reshape_leading(ctx, scores_t, (count, source, length, 1), role=f"{role}/score_planes")
    probs_t = ctx.layer("Softmax", [planes], {"softmax_param": {"axis": 1}}, role=f"{role}/softmax",
                        shape=planes.shape)
    probs_t = reshape_leading(ctx, probs_t, (count, source, length), role=f"{role}/weights")
    out = batched_product(ctx, probs_t, v, a_k_last=False, b_k_last=False, role=f"{role}/output")
    return out, probs_t


# Permute orders of a (A0, A1, H, d) view: to (batch, H, seq, d), to (batch, H, d, seq), and back.
_TO_HEADS = {True: [1, 2, 0, 3], False: [0, 2, 1, 3]}
_TO_HEADS_T = {True: [1, 2, 3, 0], False: [0, 2, 3, 1]}
_FROM_HEADS = {True: [2, 0, 1, 3], False: [0, 2, 1, 3]}


def _split_heads(ctx, rows: Blob, layout: tuple[int, int], heads: int, seq_first: bool, transposed: bool,
                 role: str) -> Blob:
    """Projected (A0, A1, E) → (batch·H, seq, d), or (batch·H, d, seq) when ``transposed``."""
    depth = rows.shape[-1] // heads
    view = reshape_leading(ctx, rows, layout + (heads, depth), role=f"{role}/heads")
    order = (_TO_HEADS_T if transposed else _TO_HEADS)[seq_first]
    moved = permute(ctx, view, order, role=f"{role}/by_head")
    batch, seq = (layout[1], layout[0]) if seq_first else layout
    return reshape_leading(ctx, moved, (batch * heads,) + ((depth, seq) if transposed else (seq, depth)),
                           role=f"{role}/batched")


def _in_projections(ctx, query: Blob, key: Blob, value: Blob, weights, biases) -> list[Blob]:
    """q, k, v as (A0, A1, E). ``weights``: one packed (3E, E) Const or three Consts; ``biases`` likewise."""
    if not isinstance(weights, Const):  # separate q/k/v weights
        return [linear_rows(ctx, x, w, b, f"in_proj_{name}") for x, w, b, name in
                zip((query, key, value), weights, biases, "qkv")]
    embed = weights.shape[0] // 3
    if query is key is value:  # the packed projection: one product, then a Slice
        fused = linear_rows(ctx, query, weights, biases, "in_proj")
        return slice_parts(ctx, fused, 2, [embed] * 3, role="in_proj/split")
    return [linear_rows(ctx, x, weights, biases, f"in_proj_{name}", i * embed, (i + 1) * embed)
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
    depth = q.shape[-1] // heads
    q_t = _split_heads(ctx, q, q_layout, heads, seq_first, True, "q")
    k_t = _split_heads(ctx, k, k_layout, heads, seq_first, True, "k")
    v = _split_heads(ctx, v, k_layout, heads, seq_first, False, "v")
    out, probs_t = attend(ctx, q_t, k_t, v, scale=1.0 / math.sqrt(depth), mask=mask)
    batch, length = q_layout[::-1] if seq_first else q_layout
    out = reshape_leading(ctx, out, (batch, heads, length, depth), role="heads_out")
    out = permute(ctx, out, _FROM_HEADS[seq_first], role="merge_heads")
    out = linear_rows(ctx, out, out_weight, out_bias, "out_proj", axis=2)
    return out, _attention_weights(ctx, probs_t, batch, heads, weights_wanted)


def _attention_weights(ctx, probs_t: Blob, batch: int, heads: int, wanted: str | None) -> Blob | None:
    """The softmax weights, given transposed (N·H, S, L), as (N, H, L, S), or averaged over heads (N, L, S) by
    a 1×1 Convolution."""
    if wanted is None:
        return None
    probs = permute(ctx, probs_t, [0, 2, 1], role="attention_weights_by_query")
    length, source = probs.shape[1:]
    per_head = reshape_leading(ctx, probs, (batch, heads, length, source), role="attention_weights_by_head")
    if wanted == "per_head":
        return per_head
    weight = ctx.constant(np.full((1, heads, 1, 1), 1.0 / heads), f"1/{heads}: mean over heads")
    params = {"num_output": 1, "bias_term": False, "kernel_size": [1]}
    mean = ctx.layer("Convolution", [per_head], {"convolution_param": params}, weights=[weight],
                     role="attention_weights_mean", shape=(batch, 1, length, source))
    return reshape_leading(ctx, mean, (batch, length, source), role="attention_weights")
