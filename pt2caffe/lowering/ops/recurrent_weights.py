"""The recurrent product W_hh·h of every unrolled step with W_hh stored once (no handlers here).

An InnerProduct per step would store its own copy of W_hh in the caffemodel: OpenCV 4.14 and MNN 3.6.1 take
every layer's weights from the caffemodel entry of that layer's name and ignore Caffe's ``param { name }``
sharing (measured: a layer whose shared blobs are stored once is refused by OpenCV — its importer hands a
stored entry to one layer only and then clears it — and crashes MNN's converter). A CRNN with two BiLSTM(256)
stages over 33 steps stored 132 copies: 137.9 MB for 7.9 MB of parameters (issue 21).

Stored once instead, W_hh is an activation: one InnerProduct whose input is exactly 1 (0·seed + 1 from the
batch seed of the first state) and whose weights are W_hh's values gives the (N, G, H) blob [W_hh] (a bias is
one more column, and h gets a column of ones). Each step then multiplies it by the state, exactly as a product
of two activations (pt2caffe.lowering.ops.products): h (N, H) viewed (N, 1, H, 1) is repeated over the G gate
rows by a 1×1 Convolution of ones, Eltwise PROD with [W_hh], and an InnerProduct of ones sums each row over H
on the (N·G, H) view. Exact: every term is one product, the sum one addition per term (as an InnerProduct's).
A cell called once per step in a Python loop stores its W_ih and bias once the same way. Cost measured (CRNN, one thread): OpenCV 16.9 →
29.9 ms, MNN 13.2 → 45.4 ms, caffemodel 137.9 → 8.5 MB (1.09× the parameters).
"""
from __future__ import annotations

import hashlib

import numpy as np

from ...net.builder import Blob, Weight
from ..compose import ELTWISE_PROD, batch_seed, eltwise, power


def _one(ctx, like: Blob) -> Blob:
    """(N, 1) of exact ones, 0·seed + 1 from the batch seed of ``like`` (N, ·), made once per blob."""
    key = ("one", like.name)
    if key not in ctx.builder.memo:
        one = power(ctx, batch_seed(ctx, like), scale=0.0, shift=1.0, role="stored_once/one")
        ctx.builder.memo[key] = ctx.layer("Reshape", [one], {"reshape_param": {"shape": {"dim": [0, 1]}}},
                                          role="stored_once/one_row", shape=(like.shape[0], 1))
    return ctx.builder.memo[key]


def _stored_once(ctx, weight: Weight, bias: Weight | None, like: Blob) -> tuple[Blob, Blob]:
    """([W | b] (N, G, H (+1), 1), the ones it was made from) for the (G, H) ``weight`` and optional (G,)
    ``bias``, made once per weight, bias and batch from the batch seed of ``like`` (N, ·): the values as the
    weights of an InnerProduct whose input is 1. The same state_dict tensors (and transforms) read again — a
    cell called in a Python loop, one op per step — get the same blob; the values are part of the key, since
    one source can hold several matrices (an ONNX bidirectional LSTM's directions are slices of one R)."""
    parts = [weight] + ([bias] if bias is not None else [])
    origin = tuple((part.source, part.transform) if part.source else id(part) for part in parts)
    values = tuple(hashlib.sha256(np.ascontiguousarray(part.array)).hexdigest() for part in parts)
    key = ("stored_once", origin, values, weight.array.shape, like.shape[0])
    one = _one(ctx, like)
    if key not in ctx.builder.memo:
        matrix = weight.array if bias is None else np.concatenate([weight.array, bias.array.reshape(-1, 1)], 1)
        gates, width = matrix.shape
        what = "as the weights of an InnerProduct on 1" + (", bias as the last column" if bias is not None else "")
        values = Weight(np.ascontiguousarray(matrix.reshape(gates * width, 1)),
                        ", ".join(filter(None, (part.source for part in parts))) or None,
                        "; ".join(filter(None, [weight.transform, what])))
        flat = ctx.layer("InnerProduct", [one], {"inner_product_param": {"num_output": gates * width,
                                                                         "bias_term": False}},
                         role="stored_once/values", shape=(like.shape[0], gates * width), weights=[values])
        shape = {"reshape_param": {"shape": {"dim": [0, gates, width, 1]}}}
        ctx.builder.memo[key] = ctx.layer("Reshape", [flat], shape, role="stored_once",
                                          shape=(like.shape[0], gates, width, 1))
    return ctx.builder.memo[key], one


def recurrent_product(ctx, h: Blob, weight: Weight, bias: Weight | None, *, role: str) -> Blob:
    """h (N, H) → h·Wᵀ (+ b) (N, G) with ``weight`` (G, H) and ``bias`` (G,) stored once in the whole net (see
    the module docstring); a bias is W's last column, multiplied by a column of ones appended to h (Concat)."""
    gates = weight.array.shape[0]
    count = h.shape[0]
    matrix, one = _stored_once(ctx, weight, bias, h)
    if bias is not None:
        h = ctx.layer("Concat", [h, one], {"concat_param": {"axis": 1}}, role=f"{role}/with_one",
                      shape=(count, h.shape[1] + 1))
    width = h.shape[1]
    column = ctx.layer("Reshape", [h], {"reshape_param": {"shape": {"dim": [0, 1, width, 1]}}}, role=f"{role}/h_column",
                       shape=(count, 1, width, 1))
    ones = ctx.constant(np.ones((gates, 1, 1, 1)), "ones: repeats h for every gate row")
    repeated = ctx.layer("Convolution", [column], {"convolution_param": {"num_output": gates, "bias_term": False,
                                                                        "kernel_size": [1]}},
                         role=f"{role}/h_repeated", shape=(count, gates, width, 1), weights=[ones])
    terms = eltwise(ctx, [repeated, matrix], ELTWISE_PROD, role=f"{role}/terms")
    rows = ctx.layer("Reshape", [terms], {"reshape_param": {"shape": {"dim": [-1, width]}}}, role=f"{role}/rows",
                     shape=(count * gates, width))
    rows = ctx.layer("Flatten", [rows], {"flatten_param": {"axis": 1}}, role=f"{role}/rows_flat",
                     shape=(count * gates, width))
    summed = ctx.layer("InnerProduct", [rows], {"inner_product_param": {"num_output": 1, "bias_term": False}},
                       role=f"{role}/sum", shape=(count * gates, 1),
                       weights=[ctx.constant(np.ones((1, width)), "ones: sums each gate row")])
    return ctx.layer("Reshape", [summed], {"reshape_param": {"shape": {"dim": [-1, gates]}}}, role=role,
                     shape=(count, gates))
