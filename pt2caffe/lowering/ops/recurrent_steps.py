"""One time step of PyTorch's recurrent cells, unrolled into stock Caffe layers on (N, features) blobs.

The formulas are PyTorch's (nn.LSTM, nn.GRU, nn.RNN documentation); the evaluation order of each
sum and product follows ATen's CPU cells (aten/src/ATen/native/RNN.cpp: ``LSTMCell``,
``GRUCell`` with h' = (h − n)·z + n, ``SimpleCell``), so that Caffe rounds where PyTorch rounds:

    LSTM  gates = W_ih x + b_ih + W_hh h + b_hh, split i, f, g, o
          c' = σ(f)·c + σ(i)·tanh(g)      h' = σ(o)·tanh(c')      (h' = W_hr h' with proj_size)
    GRU   r, z = σ(W_ir x + b_ir + W_hr h + b_hr), σ(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r·(W_hn h + b_hn))               h' = (h − n)·z + n
    RNN   h' = tanh or relu(W_ih x + b_ih + W_hh h + b_hh)

The input half ``W_ih x + b`` of every step arrives precomputed (``xp``, one InnerProduct over
the whole sequence); a step adds the hidden half W_hh h with W_hh stored once in the net
(:mod:`pt2caffe.lowering.ops.recurrent_weights`) and finishes with Slice, Sigmoid, TanH, ReLU and
Eltwise. A zero state (PyTorch's default)
drops the terms that multiply it, which is exact: they are zeros in PyTorch as well.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...graph import Const
from ...net.builder import Blob, Weight
from ..compose import ELTWISE_PROD, ELTWISE_SUM, eltwise, relu, reshape, slice_parts
from .recurrent_weights import recurrent_product

GATE_COUNT = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


@dataclass
class CellWeights:
    """The weights of one cell (one direction of one layer) in the step's layout.

    ``w_ih`` (G·H, F) and ``w_hh`` (G·H, H_out) have their gate rows in the step's order (LSTM:
    i, f, o, g, so that the three sigmoid gates are one slice; PyTorch stores i, f, g, o).
    ``b_x`` (G·H) is every bias that is added outside the GRU's reset product (b_ih + b_hh; for the
    GRU b_ih + [b_hr, b_hz, 0]); ``b_hn`` (H) is the GRU's hidden bias of the new gate, which the
    reset gate multiplies. ``w_hr`` (H_out, H) is the LSTM projection (proj_size > 0).
    """

    kind: str
    hidden: int
    w_ih: Weight
    w_hh: Weight
    b_x: Weight | None
    b_hn: Weight | None = None
    w_hr: Weight | None = None

    @property
    def out_size(self) -> int:
        return self.w_hr.array.shape[0] if self.w_hr is not None else self.hidden


@dataclass
class State:
    """The state entering or leaving a step: h (N, H_out) and, for the LSTM, c (N, H); None is zero."""

    h: Blob | None = None
    c: Blob | None = None


def cell_weights(ctx, kind: str, w_ih: Const, w_hh: Const, b_ih: Const | None, b_hh: Const | None,
                 w_hr: Const | None = None) -> CellWeights:
    """Gather one cell's parameters (PyTorch layout: weight_ih (G·H, F), weight_hh (G·H, H_out),
    bias_ih and bias_hh (G·H) or None, weight_hr (H_out, H) or None) into :class:`CellWeights`.

    Raises Pt2CaffeError (via ``ctx.fail``) when a weight is computed from the inputs.
    """
    for ref in (w_ih, w_hh, b_ih, b_hh, w_hr):
        if ref is not None and not isinstance(ref, Const):
            raise ctx.fail("a recurrent weight is computed from the inputs; only parameters can be exported")
    hidden = w_ih.shape[0] // GATE_COUNT[kind]
    order = _gate_order(kind, hidden)
    note = "gate rows (i, f, g, o) → (i, f, o, g)" if kind == "lstm" else None
    cell = CellWeights(kind, hidden, ctx.weight(w_ih, w_ih.tensor[order], note),
                       ctx.weight(w_hh, w_hh.tensor[order], note), None,
                       w_hr=ctx.weight(w_hr) if w_hr is not None else None)
    if b_ih is None and b_hh is None:
        return cell
    b_input = b_ih.tensor if b_ih is not None else torch.zeros(w_ih.shape[0])
    b_hidden = b_hh.tensor if b_hh is not None else torch.zeros(w_ih.shape[0])
    keys = tuple(key for ref in (b_ih, b_hh) if ref is not None for key in ref.keys)
    if kind == "gru":
        outside = torch.cat([b_hidden[:2 * hidden], torch.zeros(hidden)])
        cell.b_x = ctx.weight(Const(b_input + outside, keys, "bias_ih + bias_hh (r, z rows)"))
        if b_hidden[2 * hidden:].any():
            cell.b_hn = ctx.weight(Const(b_hidden[2 * hidden:].clone(), keys, "bias_hh (n rows)"))
    else:
        note = "bias_ih + bias_hh" + (", gate rows (i, f, g, o) → (i, f, o, g)" if kind == "lstm" else "")
        cell.b_x = ctx.weight(Const((b_input + b_hidden)[order], keys, note))
    return cell


def _gate_order(kind: str, hidden: int) -> torch.Tensor:
    """Row order of the gates in the step's layout (LSTM: PyTorch's i, f, g, o → i, f, o, g)."""
    rows = torch.arange(GATE_COUNT[kind] * hidden)
    if kind != "lstm":
        return rows
    i, f, g, o = rows.split(hidden)
    return torch.cat([i, f, o, g])


def inner_product(ctx, x: Blob, weight: Weight, bias: Weight | None, *, role: str) -> Blob:
    """x (N, K) → x·Wᵀ + b (N, rows of W): InnerProduct on axis 1 (the form every runtime runs)."""
    rows = weight.array.shape[0]
    params = {"num_output": rows, "bias_term": bias is not None, "axis": 1}
    weights = [weight] + ([bias] if bias is not None else [])
    return ctx.layer("InnerProduct", [x], {"inner_product_param": params}, role=role,
                     shape=(x.shape[0], rows), weights=weights)


def constant_rows(ctx, like: Blob, array: np.ndarray, what: str, *, role: str) -> Blob:
    """A blob holding the constant ``array`` (N, K), made from any blob ``like`` (N, M).

    InnerProduct with zero weights and ``array`` as its bias: 0·x + b = b exactly for finite x.
    Stock layers only (OpenCV has no Parameter layer). Rows that differ need ``like`` flattened to
    (1, N·M) first, and N·K × N·M zero weights; equal rows need K × M.
    """
    array = np.asarray(array, dtype=np.float32)
    rows, width = array.shape
    if (array == array[:1]).all():
        source, bias = like, array[0]
    else:
        source = reshape(ctx, like, (1, int(np.prod(like.shape))), role=f"{role}/flat")
        bias = array.reshape(-1)
    zeros = ctx.constant(np.zeros((bias.size, source.shape[1]), np.float32), f"zeros: {what} is a constant")
    made = inner_product(ctx, source, zeros, ctx.constant(bias, what), role=role if source is like else f"{role}/ip")
    return reshape(ctx, made, (rows, width), role=role)


def step(ctx, cell: CellWeights, xp: Blob, state: State, tag: str) -> State:
    """One time step: ``xp`` (N, G·H) = W_ih x + b_x for this step, ``state`` entering; the state leaving.

    Every layer is named ``<op>/<tag>/<part>``: ``tag`` must be unique within the op.
    """
    if cell.kind == "lstm":
        return _lstm_step(ctx, cell, xp, state, tag)
    if cell.kind == "gru":
        return _gru_step(ctx, cell, xp, state, tag)
    return _rnn_step(ctx, cell, xp, state, tag)


def _activation(ctx, layer_type: str, x: Blob, role: str) -> Blob:
    if layer_type == "ReLU":
        return relu(ctx, x, role=role)
    return ctx.layer(layer_type, [x], {}, role=role, shape=x.shape)


def _plus_hidden(ctx, cell: CellWeights, xp: Blob, h: Blob | None, tag: str) -> Blob:
    """W_ih x + b + W_hh h (the LSTM's and the RNN's pre-activations); just ``xp`` when h is zero."""
    if h is None:
        return xp
    hp = recurrent_product(ctx, h, cell.w_hh, None, role=f"{tag}/hidden")
    return eltwise(ctx, [xp, hp], ELTWISE_SUM, role=f"{tag}/gates")


def _lstm_step(ctx, cell: CellWeights, xp: Blob, state: State, tag: str) -> State:
    size = cell.hidden
    gates = _plus_hidden(ctx, cell, xp, state.h, tag)
    sigmoid_part, cell_part = slice_parts(ctx, gates, 1, [3 * size, size], role=f"{tag}/split")
    sigmoids = _activation(ctx, "Sigmoid", sigmoid_part, f"{tag}/sigmoid")
    i, f, o = slice_parts(ctx, sigmoids, 1, [size] * 3, role=f"{tag}/ifo")
    g = _activation(ctx, "TanH", cell_part, f"{tag}/g")
    ig = eltwise(ctx, [i, g], ELTWISE_PROD, role=f"{tag}/ig")
    if state.c is None:  # f·0 + i·g
        c = _plus_nothing(ctx, ig, f, f"{tag}/c")
    else:
        kept = eltwise(ctx, [f, state.c], ELTWISE_PROD, role=f"{tag}/fc")
        c = eltwise(ctx, [kept, ig], ELTWISE_SUM, role=f"{tag}/c")
    h = eltwise(ctx, [o, _activation(ctx, "TanH", c, f"{tag}/tanh_c")], ELTWISE_PROD, role=f"{tag}/h")
    if cell.w_hr is not None:
        h = recurrent_product(ctx, h, cell.w_hr, None, role=f"{tag}/h_proj")
    return State(h, c)


def _plus_nothing(ctx, x: Blob, unused: Blob, role: str) -> Blob:
    """x + 0·unused = x exactly (``unused`` is a gate in [0, 1]): reads the gate that a zero state makes
    irrelevant, so that no Slice part dangles (a silenced blob becomes an extra output in OpenCV and MNN)."""
    return eltwise(ctx, [x, unused], ELTWISE_SUM, coeffs=[1, 0], role=role)


def _gru_step(ctx, cell: CellWeights, xp: Blob, state: State, tag: str) -> State:
    size = cell.hidden
    x_rz, x_n = slice_parts(ctx, xp, 1, [2 * size, size], role=f"{tag}/x_split")
    if state.h is None:  # W_hh·0 + [0, 0, b_hn]: only b_hn is left (see _reset_product)
        rz_in, h_n = x_rz, None
    else:
        hp = recurrent_product(ctx, state.h, cell.w_hh, _gru_hidden_bias(ctx, cell), role=f"{tag}/hidden")
        h_rz, h_n = slice_parts(ctx, hp, 1, [2 * size, size], role=f"{tag}/h_split")
        rz_in = eltwise(ctx, [x_rz, h_rz], ELTWISE_SUM, role=f"{tag}/rz_in")
    rz = _activation(ctx, "Sigmoid", rz_in, f"{tag}/rz")
    r, z = slice_parts(ctx, rz, 1, [size, size], role=f"{tag}/r_z")
    reset = _reset_product(ctx, cell, r, h_n, tag)
    if reset is None:  # r·(W_hn·0 + 0)
        n_in = _plus_nothing(ctx, x_n, r, f"{tag}/n_in")
    else:
        n_in = eltwise(ctx, [x_n, reset], ELTWISE_SUM, role=f"{tag}/n_in")
    n = _activation(ctx, "TanH", n_in, f"{tag}/n")
    if state.h is None:  # (0 − n)·z + n
        return State(eltwise(ctx, [n, eltwise(ctx, [n, z], ELTWISE_PROD, role=f"{tag}/nz")], ELTWISE_SUM,
                             coeffs=[1, -1], role=f"{tag}/h"))
    difference = eltwise(ctx, [state.h, n], ELTWISE_SUM, coeffs=[1, -1], role=f"{tag}/h_minus_n")
    update = eltwise(ctx, [difference, z], ELTWISE_PROD, role=f"{tag}/times_z")
    return State(eltwise(ctx, [update, n], ELTWISE_SUM, role=f"{tag}/h"))


def _gru_hidden_bias(ctx, cell: CellWeights) -> Weight | None:
    """[0, 0, b_hn]: the hidden InnerProduct's bias (the r and z rows of b_hh went into b_x)."""
    if cell.b_hn is None:
        return None
    zeros = np.zeros(2 * cell.hidden, np.float32)
    return Weight(np.concatenate([zeros, cell.b_hn.array]), cell.b_hn.source, "zeros (r, z rows); bias_hh (n rows)")


def _reset_product(ctx, cell: CellWeights, r: Blob, h_n: Blob | None, tag: str) -> Blob | None:
    """r·(W_hn h + b_hn): Eltwise PROD with the hidden part; when h is zero, r·b_hn as a Scale by b_hn on the
    (N, H, 1, 1) view of r (MNN 3.6.1 computes a one-bottom Scale on a 2-D (N, C) blob wrongly, measured 0.2
    relative error, but right on a 4-D one's channels); H weights, not an H × H diagonal matrix."""
    if h_n is not None:
        return eltwise(ctx, [r, h_n], ELTWISE_PROD, role=f"{tag}/reset")
    if cell.b_hn is None:
        return None
    planes = reshape(ctx, r, r.shape + (1, 1), role=f"{tag}/reset_planes")
    scaled = ctx.layer("Scale", [planes], {"scale_param": {"bias_term": False}}, role=f"{tag}/reset_scale",
                       shape=planes.shape, weights=[cell.b_hn])
    return reshape(ctx, scaled, r.shape, role=f"{tag}/reset")


def _rnn_step(ctx, cell: CellWeights, xp: Blob, state: State, tag: str) -> State:
    layer_type = "TanH" if cell.kind == "rnn_tanh" else "ReLU"
    return State(_activation(ctx, layer_type, _plus_hidden(ctx, cell, xp, state.h, tag), f"{tag}/h"))
