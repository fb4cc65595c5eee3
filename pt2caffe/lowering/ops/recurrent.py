"""Recurrent nets: nn.LSTM / nn.GRU / nn.RNN (``_VF.lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``) and their
cells (``lstm_cell``, ``gru_cell``, ``rnn_tanh_cell``, ``rnn_relu_cell``), unrolled over the traced
sequence length.

Why unrolled rather than Caffe's LSTM layer: stock Caffe has only LSTM and RNN layers (no GRU, no
reverse direction, no ReLU RNN, no projection); its LSTM needs a ``cont`` input blob, which a
deployed net would have to be fed or build from a constant (OpenCV has no Parameter layer); and,
measured with a one-layer LSTM that pycaffe runs exactly, OpenCV 4.14 refuses Caffe's blob layout
(it expects W_h, W_x, b: "Wh.rows == 4·Wh.cols") and MNN 3.6.1's converter reports
"Op Not Support: Caffe::LSTM". The unrolled form uses only InnerProduct (axis 1), Slice,
Concat, Reshape, Flatten, Sigmoid, TanH, ReLU and Eltwise, which pycaffe, OpenCV and
MNN all run, and is exact for every option (time reversal is the order in which the steps are
chained; no data moves).

Layout of a sequence (T steps, batch N, F features) inside the net, 2-D so that every
InnerProduct has axis 1: time-major nets keep rows (T·N, F), step t = rows [t·N, (t+1)·N), cut
with a Slice on axis 0; batch-first nets keep (N, T·F), step t = columns [t·F, (t+1)·F), cut with
a Slice on axis 1. One InnerProduct per layer and direction projects all steps at once
(W_ih x + b); W_hh is stored once for all steps (an activation made once, multiplied per step:
pt2caffe.lowering.ops.recurrent_weights, so the caffemodel holds each parameter once); each step then
costs about 17 layers (LSTM), 18 (GRU) or 9 (RNN): the net grows linearly with T · layers · directions.
"""
from __future__ import annotations

import numpy as np

from ...graph import Const, Value
from ...net.builder import Blob
from ..compose import concat, reshape, slice_parts
from ..registry import handles
from .recurrent_steps import State, cell_weights, constant_rows, inner_product, step
from .recurrent_weights import recurrent_product

_SEQUENCE_LOWERING = (
    "unrolled over the traced length: one InnerProduct (axis 1) per layer and direction for W_ih x, then per "
    "step W_hh h (W_hh stored once, as an activation: 1×1 Convolution of ones + Eltwise PROD + InnerProduct of "
    "ones) + Eltwise + Slice + Sigmoid/TanH/ReLU; reverse direction by chaining the steps "
    "backwards; Slice/Concat/Reshape/Flatten for layouts and h_n/c_n; constant initial states as a zero-weight "
    "InnerProduct's bias. Not Caffe's LSTM layer: it has no GRU, reverse or ReLU form and needs a cont input, "
    "OpenCV 4.14 rejects its blobs and MNN 3.6.1 cannot convert it (measured)")


@handles("lstm", "gru", "rnn_tanh", "rnn_relu", lowering=_SEQUENCE_LOWERING)
def recurrent_sequence(op, ctx):
    """nn.LSTM / nn.GRU / nn.RNN over a padded batch: x (T, N, F) or batch-first (N, T, F) → output
    (T, N, D·H_out) or (N, T, D·H_out), h_n (L·D, N, H_out) and for the LSTM c_n (L·D, N, H); outputs that
    nothing reads get no layers. Raises Pt2CaffeError for packed sequences and for training mode."""
    kind = op.kind
    if not isinstance(op.args[1 if kind == "lstm" else 2], (list, tuple)):
        raise ctx.fail("packed sequences (pack_padded_sequence) are not supported: pass a padded tensor")
    x, hx, params, has_biases, num_layers, _dropout, train, bidirectional, batch_first = op.args[:9]
    if train:
        raise ctx.fail("the recurrent layer runs in training mode; call model.eval() before exporting")
    directions = 2 if bidirectional else 1
    cells = _sequence_cells(ctx, kind, list(params), bool(has_biases), int(num_layers) * directions)
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    layout = _Layout(bool(batch_first), steps, batch)
    states = _initial_states(ctx, kind, hx, len(cells), batch)
    rows = reshape(ctx, ctx.blob(x), (steps * batch, x.shape[2]), role="rows")
    finals: list[State] = []
    for layer in range(int(num_layers)):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            tag = f"l{layer}" + ("_reverse" if direction else "")
            hs, final = _run_direction(ctx, cells[index], layout, rows, states[index], tag, direction == 1)
            outputs.append(hs)
            finals.append(final)
        if layer + 1 < num_layers:
            rows = layout.rows(ctx, layout.assemble(ctx, outputs, f"l{layer}"), f"l{layer + 1}/rows")
    results = [_sequence_output(ctx, layout, outputs, op)]
    results.append(_stacked(ctx, [state.h for state in finals], op, 1, "h_n"))
    if kind == "lstm":
        results.append(_stacked(ctx, [state.c for state in finals], op, 2, "c_n"))
    return results


@handles("lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell",
         lowering="one unrolled step (as lstm/gru/rnn): InnerProduct (axis 1) for W_ih x, W_hh h with W_hh stored "
                  "once, Eltwise, "
                  "Slice, Sigmoid/TanH/ReLU; a zero hx drops its terms; a constant operand is a zero-weight "
                  "InnerProduct's bias")
def recurrent_cell(op, ctx):
    """nn.LSTMCell / GRUCell / RNNCell: x (N, F), hx (N, H) → (h', c') for the LSTM, h' otherwise.
    Raises Pt2CaffeError when a weight is computed from the inputs."""
    kind = op.kind[:-len("_cell")]
    x, hx = op.arg(0, "input"), op.arg(1, "hx")
    cell = cell_weights(ctx, kind, op.arg(2, "w_ih"), op.arg(3, "w_hh"), op.arg(4, "b_ih"), op.arg(5, "b_hh"))
    parts = list(hx) if kind == "lstm" else [hx]
    like = next(ctx.blob(ref) for ref in [x, *parts] if isinstance(ref, Value))
    if isinstance(x, Value):
        xp = recurrent_product(ctx, ctx.blob(x), cell.w_ih, cell.b_x, role="x")
    else:
        xp = constant_rows(ctx, like, _constant_projection(cell, x), "W_ih x + b of a constant x", role="x")
    entries = [_state_entry(ctx, ref) for ref in parts]
    state = _start_state(ctx, entries + [None] * (2 - len(entries)), like, "state")
    final = step(ctx, cell, xp, state, "step")
    return [final.h, final.c] if kind == "lstm" else final.h


# --- parameters and states ----------------------------------------------------------------------

def _sequence_cells(ctx, kind: str, params: list, has_biases: bool, count: int) -> list:
    """The CellWeights of every (layer, direction), in PyTorch's order (layer-major, forward first).

    ``params`` is nn.LSTM's ``_flat_weights``: per cell weight_ih, weight_hh, [bias_ih, bias_hh],
    [weight_hr].
    """
    per_cell = len(params) // count
    if per_cell * count != len(params) or per_cell not in (2, 3, 4, 5):
        raise ctx.fail(f"expected the weights of {count} cells, got {len(params)} tensors")
    cells = []
    for index in range(count):
        own = params[index * per_cell:(index + 1) * per_cell]
        biases = own[2:4] if has_biases else [None, None]
        projection = own[-1] if per_cell in (3, 5) else None
        cells.append(cell_weights(ctx, kind, own[0], own[1], biases[0], biases[1], projection))
    return cells


def _initial_states(ctx, kind: str, hx, count: int, batch: int) -> list[list]:
    """Per cell [h entry, c entry]: None (zero), a constant (N, size) array, or a (N, size) blob.

    ``hx`` is (h_0, c_0) for the LSTM, h_0 otherwise, each (layers·directions, N, size).
    """
    parts = list(hx) if kind == "lstm" else [hx]
    per_part = []
    for name, ref in zip(("h_0", "c_0"), parts):
        if isinstance(ref, Const):
            zero = not ref.tensor.any()
            per_part.append([None if zero else ref.tensor[i].numpy() for i in range(count)])
        else:
            size = ref.shape[-1]
            flat = reshape(ctx, ctx.blob(ref), (count * batch, size), role=f"{name}/rows")
            per_part.append(slice_parts(ctx, flat, 0, [batch] * count, role=f"{name}/split"))
    per_part += [[None] * count] * (2 - len(per_part))
    return [[per_part[0][i], per_part[1][i]] for i in range(count)]


def _state_entry(ctx, ref):
    """A cell's hx part: None when it is the zero constant, else its constant array or blob."""
    if isinstance(ref, Const):
        return None if not ref.tensor.any() else ref.tensor.numpy()
    return ctx.blob(ref)


def _start_state(ctx, entries: list, like: Blob, tag: str) -> State:
    """The State from [h entry, c entry]; constants become blobs computed from ``like`` (N, ·)."""
    blobs = []
    for name, entry in zip(("h0", "c0"), entries):
        if isinstance(entry, np.ndarray):
            entry = constant_rows(ctx, like, entry.reshape(like.shape[0], -1), f"initial {name}",
                                  role=f"{tag}/{name}")
        blobs.append(entry)
    return State(*blobs)


def _constant_projection(cell, x: Const) -> np.ndarray:
    """W_ih x + b_x for a constant x (N, F), in float64 then rounded once."""
    weight = cell.w_ih.array.astype(np.float64)
    bias = cell.b_x.array.astype(np.float64) if cell.b_x is not None else 0.0
    return x.tensor.double().numpy() @ weight.T + bias


# --- sequences ----------------------------------------------------------------------------------

class _Layout:
    """Where step t of a 2-D sequence blob lives (see the module docstring)."""

    def __init__(self, batch_first: bool, steps: int, batch: int):
        self.batch_first, self.steps, self.batch = batch_first, steps, batch

    def cut(self, ctx, projected: Blob, tag: str) -> list[Blob]:
        """(T·N or N·T rows, G) → T blobs (N, G)."""
        width = projected.shape[1]
        if not self.batch_first:
            return slice_parts(ctx, projected, 0, [self.batch] * self.steps, role=f"{tag}/steps")
        wide = reshape(ctx, projected, (self.batch, self.steps * width), role=f"{tag}/by_sample")
        return slice_parts(ctx, wide, 1, [width] * self.steps, role=f"{tag}/steps")

    def assemble(self, ctx, outputs: list[list[Blob]], tag: str) -> Blob:
        """Per direction T blobs (N, H) → (T·N, D·H) time-major, (N, T·D·H) batch-first."""
        if self.batch_first:
            return concat(ctx, [hs[t] for t in range(self.steps) for hs in outputs], 1, f"{tag}/out")
        per_direction = [concat(ctx, hs, 0, f"{tag}/out_d{d}") for d, hs in enumerate(outputs)]
        return concat(ctx, per_direction, 1, f"{tag}/out")

    def rows(self, ctx, sequence: Blob, tag: str) -> Blob:
        """A layer's assembled output as the next layer's rows (one sample-step per row)."""
        if not self.batch_first:
            return sequence
        return reshape(ctx, sequence, (self.batch * self.steps, sequence.shape[1] // self.steps), role=tag)


def _run_direction(ctx, cell, layout: _Layout, rows: Blob, entries: list, tag: str, reverse: bool):
    """Project all steps, chain them forwards or backwards; (h per step in time order, final State)."""
    projected = inner_product(ctx, rows, cell.w_ih, cell.b_x, role=f"{tag}/x")
    xps = layout.cut(ctx, projected, f"{tag}/x")
    state = _start_state(ctx, entries, xps[0], tag)
    hs: list[Blob | None] = [None] * layout.steps
    for t in (reversed(range(layout.steps)) if reverse else range(layout.steps)):
        state = step(ctx, cell, xps[t], state, f"{tag}/t{t}")
        hs[t] = state.h
    return hs, state



def _sequence_output(ctx, layout: _Layout, outputs: list[list[Blob]], op) -> Blob | None:
    """The last layer's h at every step as ``output`` (T, N, D·H) or (N, T, D·H); None when nothing reads it."""
    if not ctx.is_used(0):
        return None
    return reshape(ctx, layout.assemble(ctx, outputs, "out"), op.outputs[0].shape)


def _stacked(ctx, finals: list[Blob], op, index: int, role: str) -> Blob | None:
    """h_n or c_n (layers·directions, N, size) from the final states; None when nothing reads it."""
    if not ctx.is_used(index):
        return None
    return reshape(ctx, concat(ctx, finals, 0, f"{role}/rows"), op.outputs[index].shape, role=role)
