"""LSTM, GRU, RNN (opsets 7 and 14: layout) as torch's lstm/gru/rnn with ONNX's gate order and layouts."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import converts

# torch's gate blocks in ONNX's order: LSTM ONNX i,o,f,c → torch i,f,g,o; GRU ONNX z,r,h → torch r,z,n
_GATES = {"LSTM": (4, [0, 2, 3, 1]), "GRU": (3, [1, 0, 2]), "RNN": (1, [0])}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _blocks(tensor, op_type: str):
    count, order = _GATES[op_type]
    if count == 1:
        return tensor
    parts = torch.chunk(tensor, count, 0)
    return torch.cat([parts[i] for i in order], 0)


def _check(ctx, op_type: str, x, sequence_lens, peepholes=None):
    directions = 2 if ctx.attr("direction", "forward") == "bidirectional" else 1
    activations = ctx.attr("activations")
    if activations is not None:
        expected = _DEFAULT_ACTIVATIONS[op_type] * directions
        relu_rnn = op_type == "RNN" and activations == ["Relu"] * directions
        if [a.lower() for a in activations] != [a.lower() for a in expected] and not relu_rnn:
            raise ctx.fail(f"activations {activations} are not supported (only the defaults; Relu for RNN)")
    if ctx.attr("clip") is not None:
        raise ctx.fail("cell clipping (clip) is not supported")
    if ctx.attr("input_forget", 0):
        raise ctx.fail("input_forget=1 (coupled gates) is not supported")
    if peepholes is not None and torch.tensor(_input(ctx, peepholes, 7, "peephole weights (P)")).any():
        raise ctx.fail("peephole weights (P) other than zeros are not supported")  # zeros: no peepholes
    batch_first = ctx.opset >= 14 and ctx.attr("layout", 0) == 1
    steps = x.shape[1] if batch_first else x.shape[0]
    if sequence_lens is not None:
        lengths = _input(ctx, sequence_lens, 4, "sequence_lens")
        if any(int(n) != steps for n in lengths):
            raise ctx.fail(f"sequence_lens {lengths} shorter than the sequence ({steps}) are not supported")
    return directions, batch_first


def _input(ctx, value, index: int, what: str):
    """The node's input ``index`` (``value``) as Python data, refused when computed from the input's values."""
    return ctx.const([None] * index + [value], index, what)


def _params(ctx, op_type, w, r, b, directions):
    params = []
    hidden = ctx.attr("hidden_size", r.shape[-1])
    count = _GATES[op_type][0]
    for d in range(directions):
        params += [_blocks(w[d], op_type), _blocks(r[d], op_type)]
        if b is not None:
            params += [_blocks(b[d, :count * hidden], op_type), _blocks(b[d, count * hidden:], op_type)]
    return params, b is not None, hidden


def _reverse(x, axis: int):
    parts = torch.split(x, 1, axis)
    return torch.cat(parts[::-1], axis) if len(parts) > 1 else x


def _run(ctx, op_type, x, w, r, b, sequence_lens, states, peepholes=None):
    directions, batch_first = _check(ctx, op_type, x, sequence_lens, peepholes)
    params, has_bias, hidden = _params(ctx, op_type, w, r, b, directions)
    batch = x.shape[0] if batch_first else x.shape[1]
    initial = []
    for state in states:
        if state is None:
            state = torch.zeros(directions, batch, hidden, dtype=x.dtype)
        elif batch_first:
            state = state.transpose(0, 1).contiguous()
        if tuple(state.shape) != (directions, batch, hidden):  # torch's kernels do not check (measured: a crash)
            raise ctx.fail(f"an initial state of shape {list(state.shape)} for {directions} direction(s), batch {batch} "
                           f"and hidden size {hidden}")
        initial.append(state)
    reverse = ctx.attr("direction", "forward") == "reverse"
    time_axis = 1 if batch_first else 0
    if reverse:
        x = _reverse(x, time_axis)
    fn = {"LSTM": torch.lstm, "GRU": torch.gru if ctx.attr("linear_before_reset", 0) else _gru_reset_first}.get(op_type)
    if fn is None:
        relu = (ctx.attr("activations") or ["Tanh"])[0].lower() == "relu"
        fn = torch.rnn_relu if relu else torch.rnn_tanh
    hx = tuple(initial) if op_type == "LSTM" else initial[0]
    results = fn(x, hx, params, has_bias, 1, 0.0, False, directions == 2, batch_first)
    y, finals = results[0], list(results[1:])
    if reverse:
        y = _reverse(y, time_axis)
    if batch_first:  # (N, T, D·H) → (N, T, D, H); states (D, N, H) → (N, D, H)
        y = y.reshape(y.shape[0], y.shape[1], directions, hidden)
        finals = [state.transpose(0, 1) for state in finals]
    else:  # (T, N, D·H) → (T, D, N, H)
        y = y.reshape(y.shape[0], y.shape[1], directions, hidden).permute(0, 2, 1, 3)
    return (y, *finals)


@converts("LSTM")
def lstm(ctx, x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, peepholes=None):
    return _run(ctx, "LSTM", x, w, r, b, sequence_lens, [initial_h, initial_c], peepholes)


@converts("GRU")
def gru(ctx, x, w, r, b=None, sequence_lens=None, initial_h=None):
    return _run(ctx, "GRU", x, w, r, b, sequence_lens, [initial_h])


def _gru_reset_first(x, hx, params, has_bias, _layers, _dropout, _train, bidirectional, batch_first):
    """A GRU with ONNX's default linear_before_reset=0, h̃ = tanh(W_h·x + R_h·(r ⊙ h) + b), written out step by
    step with torch functions (torch's own GRU multiplies after the matrix: linear_before_reset=1); same
    arguments and results as ``torch.gru`` (gates in torch's order r, z, n)."""
    sequence = x.transpose(0, 1) if batch_first else x
    steps = sequence.shape[0]
    per_direction = 4 if has_bias else 2
    outputs, finals = [], []
    for direction in range(2 if bidirectional else 1):
        w_ih, w_hh, *biases = params[direction * per_direction:(direction + 1) * per_direction]
        b_ih, b_hh = biases if biases else (None, None)
        projected = F.linear(sequence, w_ih, b_ih)
        recurrent = list(zip(w_hh.chunk(3, 0), b_hh.chunk(3, 0) if b_hh is not None else (None,) * 3))
        h, states = hx[direction], [None] * steps
        for t in (reversed(range(steps)) if direction else range(steps)):
            x_r, x_z, x_n = projected[t].chunk(3, -1)
            r = torch.sigmoid(x_r + F.linear(h, *recurrent[0]))
            z = torch.sigmoid(x_z + F.linear(h, *recurrent[1]))
            n = torch.tanh(x_n + F.linear(r * h, *recurrent[2]))
            h = n + z * (h - n)
            states[t] = h
        outputs.append(torch.stack(states, 0))
        finals.append(h)
    y = torch.cat(outputs, -1) if len(outputs) > 1 else outputs[0]
    return (y.transpose(0, 1) if batch_first else y), torch.stack(finals, 0)


@converts("RNN")
def rnn(ctx, x, w, r, b=None, sequence_lens=None, initial_h=None):
    return _run(ctx, "RNN", x, w, r, b, sequence_lens, [initial_h])
