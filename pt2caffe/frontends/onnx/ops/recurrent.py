"""LSTM, GRU, RNN (opsets 7 and 14: layout) as torch's lstm/gru/rnn with ONNX's gate order and layouts; what
torch's kernels lack (GRU's linear_before_reset=0, LSTM peepholes, clip and activations) written out step by step."""
from __future__ import annotations

from functools import partial

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


def _check(ctx, op_type: str, x, sequence_lens):
    directions = 2 if ctx.attr("direction", "forward") == "bidirectional" else 1
    activations = ctx.attr("activations")
    if activations is not None and op_type != "LSTM":  # LSTM: any of _FUNCTIONS (written out)
        expected = _DEFAULT_ACTIVATIONS[op_type] * directions
        relu_rnn = op_type == "RNN" and activations == ["Relu"] * directions
        if [a.lower() for a in activations] != [a.lower() for a in expected] and not relu_rnn:
            raise ctx.fail(f"activations {activations} are not supported (only the defaults; Relu for RNN)")
    if ctx.attr("clip") is not None and op_type != "LSTM":
        raise ctx.fail("cell clipping (clip) is supported for LSTM only")
    if ctx.attr("input_forget", 0):
        raise ctx.fail("input_forget=1 (coupled gates) is not supported")
    batch_first = ctx.opset >= 14 and ctx.attr("layout", 0) == 1
    steps = x.shape[1] if batch_first else x.shape[0]
    if sequence_lens is not None:
        lengths = _input(ctx, sequence_lens, 4, "sequence_lens")
        if any(int(n) != steps for n in lengths):
            raise ctx.fail(f"sequence_lens {lengths} shorter than the sequence ({steps}) are not supported")
    return directions, batch_first


# ONNX's RNN activation functions (LSTM/GRU/RNN spec, "activations"): lower-case name → (alpha, beta defaults,
# function of (alpha, beta…, x)); alphas and betas are taken in order by the functions that have them
_FUNCTIONS = {
    "sigmoid": ((), torch.sigmoid), "tanh": ((), torch.tanh), "relu": ((), torch.relu),
    "softsign": ((), lambda x: x / (torch.abs(x) + 1)), "softplus": ((), F.softplus),
    "hardsigmoid": ((0.2, 0.5), lambda a, b, x: torch.clamp(a * x + b, 0.0, 1.0)),
    "leakyrelu": ((0.01,), lambda a, x: F.leaky_relu(x, a)),
    "elu": ((1.0,), lambda a, x: F.elu(x, a)),
    "affine": ((1.0, 0.0), lambda a, b, x: a * x + b),
    "scaledtanh": ((1.0, 1.0), lambda a, b, x: a * torch.tanh(b * x)),
}


def _activations(ctx, directions: int):
    """The LSTM's (f, g, h) per direction from ``activations``, ``activation_alpha`` and ``activation_beta``;
    None for the defaults (Sigmoid, Tanh, Tanh)."""
    names = ctx.attr("activations")
    if names is None or [n.lower() for n in names] == ["sigmoid", "tanh", "tanh"] * directions:
        return None
    if len(names) != 3 * directions:
        raise ctx.fail(f"{len(names)} activations for {directions} direction(s): 3 each (f, g, h)")
    parameters = [list(ctx.attr("activation_alpha") or []), list(ctx.attr("activation_beta") or [])]
    functions = []
    for name in names:
        if name.lower() not in _FUNCTIONS:
            raise ctx.fail(f"activation {name} is not supported (supported: {', '.join(_FUNCTIONS)})")
        defaults, function = _FUNCTIONS[name.lower()]
        values = [parameters[k].pop(0) if parameters[k] else default for k, default in enumerate(defaults)]
        functions.append(partial(function, *values))
    return [functions[3 * d:3 * d + 3] for d in range(directions)]


def _lstm(ctx, peepholes, directions: int, hidden: int):
    """torch.lstm, or the LSTM written out when the node has peepholes (P not all zero), cell clipping or other
    activations than the defaults."""
    if peepholes is not None:
        if not torch.tensor(_input(ctx, peepholes, 7, "peephole weights (P)")).any():
            peepholes = None  # all zero (exporters that write every optional input): no peepholes
        elif tuple(peepholes.shape) != (directions, 3 * hidden):
            raise ctx.fail(f"peephole weights (P) of shape {list(peepholes.shape)}, not [{directions}, {3 * hidden}]")
    clip, functions = ctx.attr("clip"), _activations(ctx, directions)
    if clip is None and peepholes is None and functions is None:
        return torch.lstm
    return partial(_written_out, _lstm_cell(peepholes, clip, functions))


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
    directions, batch_first = _check(ctx, op_type, x, sequence_lens)
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
    if op_type == "LSTM":
        fn = _lstm(ctx, peepholes, directions, hidden)
    elif op_type == "GRU":
        fn = torch.gru if ctx.attr("linear_before_reset", 0) else partial(_written_out, _gru_reset_first)
    else:
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


def _written_out(cell, x, hx, params, has_bias, _layers, _dropout, _train, bidirectional, batch_first):
    """``cell(direction, w_hh, b_hh)`` gives one direction's ``step(projected x_t, states) -> states``, run over
    the time steps (the second direction backwards) with torch functions, for what torch's own kernels do not compute; same arguments and results as
    ``torch.lstm`` / ``torch.gru`` (states (h, c) or h, gates in torch's order)."""
    sequence = x.transpose(0, 1) if batch_first else x
    steps = sequence.shape[0]
    per_direction = 4 if has_bias else 2
    hx = hx if isinstance(hx, tuple) else (hx,)
    outputs, finals = [], []
    for direction in range(2 if bidirectional else 1):
        w_ih, w_hh, *biases = params[direction * per_direction:(direction + 1) * per_direction]
        b_ih, b_hh = biases if biases else (None, None)
        projected = F.linear(sequence, w_ih, b_ih)
        step = cell(direction, w_hh, b_hh)
        states, hidden = tuple(state[direction] for state in hx), [None] * steps
        for t in (reversed(range(steps)) if direction else range(steps)):
            states = step(projected[t], states)
            hidden[t] = states[0]
        outputs.append(torch.stack(hidden, 0))
        finals.append(states)
    y = torch.cat(outputs, -1) if len(outputs) > 1 else outputs[0]
    return (y.transpose(0, 1) if batch_first else y, *(torch.stack(state, 0) for state in zip(*finals)))


def _gru_reset_first(_direction, w_hh, b_hh):
    """GRU steps with ONNX's default linear_before_reset=0, h̃ = tanh(W_h·x + R_h·(r ⊙ h) + b) (torch's own GRU
    multiplies after the matrix: linear_before_reset=1); gates in torch's order r, z, n."""
    recurrent = list(zip(w_hh.chunk(3, 0), b_hh.chunk(3, 0) if b_hh is not None else (None,) * 3))

    def step(x_t, states):
        (h,) = states
        x_r, x_z, x_n = x_t.chunk(3, -1)
        r = torch.sigmoid(x_r + F.linear(h, *recurrent[0]))
        z = torch.sigmoid(x_z + F.linear(h, *recurrent[1]))
        n = torch.tanh(x_n + F.linear(r * h, *recurrent[2]))
        return (n + z * (h - n),)
    return step


def _lstm_cell(peepholes, clip: float | None, functions=None):
    """LSTM steps with ONNX's peepholes P (per direction i, o, f: i and f see C_{t−1}, o sees C_t), cell
    clipping (every gate's input bounded to [−clip, clip] before its activation) and activations f, g, h per
    direction (``functions``; None: sigmoid, tanh, tanh), as the ONNX LSTM spec writes them; gates in torch's
    order i, f, g, o."""
    def bounded(value):
        return value if clip is None else torch.clamp(value, -clip, clip)

    def cell(direction, w_hh, b_hh):
        gate, candidate, output = functions[direction] if functions else (torch.sigmoid, torch.tanh, torch.tanh)
        p_i, p_o, p_f = peepholes[direction].chunk(3) if peepholes is not None else (0.0, 0.0, 0.0)

        def step(x_t, states):
            h, c = states
            i, f, g, o = (x_t + F.linear(h, w_hh, b_hh)).chunk(4, -1)
            c = gate(bounded(f + p_f * c)) * c + gate(bounded(i + p_i * c)) * candidate(bounded(g))
            return gate(bounded(o + p_o * c)) * output(c), c
        return step
    return cell


@converts("RNN")
def rnn(ctx, x, w, r, b=None, sequence_lens=None, initial_h=None):
    return _run(ctx, "RNN", x, w, r, b, sequence_lens, [initial_h])
