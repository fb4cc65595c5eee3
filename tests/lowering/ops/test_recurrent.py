"""nn.LSTM / nn.GRU / nn.RNN and their cells, unrolled: every option in pycaffe (every blob) and OpenCV (outputs).

Each case also runs a second random input (export_and_compare does). The cases cover each kind with one
and two layers, one and two directions, both layouts, zero / input / parameter initial states and the
three ways of using the results (output only, output with h_n (and c_n), h_n alone).
"""
import pytest
import torch
import torch.nn as nn

from helpers import export_and_compare, layer_types, random_inputs
from portability import assert_portable
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError

FEATURES, HIDDEN, STEPS, BATCH = 6, 5, 4, 3
MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}


class Recurrent(nn.Module):
    """One recurrent module; ``state``: "zero" (PyTorch's default), "input" (extra model inputs),
    "parameter" (one learned row per layer and direction) or "rows" (a learned row per sample too)."""

    def __init__(self, kind, layers=1, bidirectional=False, batch_first=False, state="zero", returns="output",
                 **options):
        super().__init__()
        if kind.startswith("rnn"):
            options["nonlinearity"] = kind[4:]
        self.kind, self.state, self.returns = kind, state, returns
        self.rnn = MODULES[kind](FEATURES, HIDDEN, num_layers=layers, bidirectional=bidirectional,
                                 batch_first=batch_first, **options)
        cells = layers * (2 if bidirectional else 1)
        rows = BATCH if state == "rows" else 1
        if state in ("parameter", "rows"):
            self.h0 = nn.Parameter(torch.randn(cells, rows, options.get("proj_size") or HIDDEN))
            self.c0 = nn.Parameter(torch.randn(cells, rows, HIDDEN))

    def initial(self, states):
        if self.state == "zero":
            return None
        if self.state == "input":
            h0, c0 = (states[0], states[1]) if self.kind == "lstm" else (states[0], None)
        else:
            h0, c0 = self.h0.expand(-1, BATCH, -1).contiguous(), self.c0.expand(-1, BATCH, -1).contiguous()
        return (h0, c0) if self.kind == "lstm" else h0

    def forward(self, x, *states):
        output, final = self.rnn(x, self.initial(states))
        finals = list(final) if self.kind == "lstm" else [final]
        if self.returns == "output":
            return output
        if self.returns == "final":
            return finals[0]
        return [output, *finals]


def shapes(model: Recurrent) -> list[tuple[int, ...]]:
    rnn = model.rnn
    x = (BATCH, STEPS, FEATURES) if rnn.batch_first else (STEPS, BATCH, FEATURES)
    if model.state != "input":
        return [x]
    cells = rnn.num_layers * (2 if rnn.bidirectional else 1)
    h0 = (cells, BATCH, rnn.proj_size or HIDDEN) if model.kind == "lstm" else (cells, BATCH, HIDDEN)
    return [x, h0] + ([(cells, BATCH, HIDDEN)] if model.kind == "lstm" else [])


# kind, layers, bidirectional, batch_first, state, returns
SEQUENCES = [
    ("lstm", 1, False, False, "zero", "output"),
    ("lstm", 2, True, False, "zero", "all"),
    ("lstm", 2, True, True, "input", "all"),
    ("lstm", 1, False, True, "parameter", "final"),
    ("lstm", 2, False, False, "rows", "all"),
    ("gru", 2, True, False, "input", "all"),
    ("gru", 1, False, True, "zero", "final"),
    ("gru", 2, True, True, "parameter", "output"),
    ("gru", 1, True, False, "zero", "all"),
    ("gru", 1, False, False, "input", "all"),
    ("gru", 1, False, True, "rows", "all"),
    ("lstm", 1, False, True, "input", "all"),
    ("rnn_tanh", 2, True, True, "zero", "all"),
    ("rnn_tanh", 1, False, False, "input", "output"),
    ("rnn_relu", 2, True, False, "parameter", "final"),
    ("rnn_relu", 1, False, True, "input", "all"),
]


@pytest.mark.parametrize("case", SEQUENCES, ids=["-".join(map(str, case)) for case in SEQUENCES])
def test_sequence(tmp_path, case):
    model = Recurrent(*case)
    export_and_compare(model, random_inputs(shapes(model)), tmp_path)


@pytest.mark.parametrize("options", [{"proj_size": 3}, {"bias": False}], ids=["proj_size", "no_bias"])
def test_lstm_options(tmp_path, options):
    model = Recurrent("lstm", 2, True, False, "input", "all", **options)
    export_and_compare(model, random_inputs(shapes(model)), tmp_path)


def test_gru_without_bias(tmp_path):
    model = Recurrent("gru", 1, True, True, "zero", "all", bias=False)
    export_and_compare(model, random_inputs(shapes(model)), tmp_path)


@pytest.mark.parametrize("kind,shape", [("lstm", (1, 1, FEATURES)), ("gru", (STEPS, FEATURES))],
                         ids=["one_step_one_sample", "unbatched"])
def test_small_and_unbatched_inputs(tmp_path, kind, shape):
    export_and_compare(Recurrent(kind, 2, True, False, "zero", "all"), random_inputs([shape]), tmp_path)


def test_unused_results_leave_no_dangling_layer(tmp_path):
    """Only h_n is read: no layer assembles the sequence output, no Silence layer is needed, and every layer
    form runs in OpenCV and MNN."""
    export_and_compare(Recurrent("lstm", 2, True, False, "zero", "final"), random_inputs([(STEPS, BATCH, FEATURES)]),
                       tmp_path)
    types = layer_types(tmp_path)
    assert "Silence" not in types and "LSTM" not in types
    assert_portable(tmp_path)


def test_layer_count_is_linear_in_steps():
    def count(steps):
        model = Recurrent("gru", 2, True, False)
        return len(convert(model, random_inputs([(steps, BATCH, FEATURES)])).net.layers)

    four, eight, sixteen = count(4), count(8), count(16)
    assert sixteen - eight == 2 * (eight - four)


@pytest.mark.parametrize("kind,gates,directions", [("lstm", 4, 2), ("gru", 3, 1), ("cell_loop", 4, 1)])
def test_recurrent_weights_are_stored_once(kind, gates, directions):
    """W_hh stored once for all 16 steps (one blob of its size per direction), not once per step: the net's
    weights are the parameters plus the ones that repeat h and sum the rows (G + H + 1 floats a step)."""
    hidden = HIDDEN if kind == "cell_loop" else 64
    module = {"lstm": lambda: nn.LSTM(16, 64, bidirectional=True), "gru": lambda: nn.GRU(16, 64),
              "cell_loop": lambda: CellLoop("lstm", "none")}[kind]()
    net = convert(module, random_inputs([(16, 1, FEATURES if kind == "cell_loop" else 16)]), probe_sizes=False).net
    sizes = [w.array.size for layer in net.layers for w in layer.weights]
    assert sum(size in (gates * hidden * hidden, gates * hidden * (hidden + 1)) for size in sizes) == directions
    parameters = sum(p.numel() for p in module.parameters())
    steps = 16 * directions * (2 if kind == "cell_loop" else 1)  # a cell also projects each x_t alone
    assert sum(sizes) <= parameters + (gates + 1) * (hidden + FEATURES + 1) * steps


CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn_tanh": nn.RNNCell, "rnn_relu": nn.RNNCell}


class CellLoop(nn.Module):
    """A cell stepped over the time axis in a Python loop; ``start``: "none" (hx=None), "input", "parameter"."""

    def __init__(self, kind, start):
        super().__init__()
        options = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
        self.kind, self.start = kind, start
        self.cell = CELLS[kind](FEATURES, HIDDEN, **options)
        self.h0 = nn.Parameter(torch.randn(1, HIDDEN))

    def forward(self, x, *states):
        if self.start == "none":
            state = None
        elif self.start == "input":
            state = tuple(states) if self.kind == "lstm" else states[0]
        else:
            h0 = self.h0.expand(x.shape[1], -1)
            state = (h0, torch.zeros_like(h0)) if self.kind == "lstm" else h0
        outputs = []
        for x_t in x.unbind(0):
            state = self.cell(x_t, state)
            outputs.append(state[0] if self.kind == "lstm" else state)
        return torch.stack(outputs, 1)


@pytest.mark.parametrize("kind,start", [("lstm", "none"), ("lstm", "input"), ("lstm", "parameter"),
                                        ("gru", "none"), ("gru", "input"), ("gru", "parameter"),
                                        ("rnn_tanh", "input"), ("rnn_relu", "none")])
def test_cell_loop(tmp_path, kind, start):
    state_shapes = [(BATCH, HIDDEN)] * (2 if kind == "lstm" else 1) if start == "input" else []
    export_and_compare(CellLoop(kind, start), random_inputs([(STEPS, BATCH, FEATURES)] + state_shapes), tmp_path)


def test_cell_with_a_constant_input(tmp_path):
    """A decoder's first input is often a learned start vector: W_ih x + b is then a constant."""

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(FEATURES, HIDDEN)
            self.start = nn.Parameter(torch.randn(1, FEATURES))

        def forward(self, h0, c0):
            return self.cell(self.start.expand(h0.shape[0], -1), (h0, c0))[0]

    export_and_compare(Decoder(), random_inputs([(BATCH, HIDDEN)] * 2), tmp_path)


def test_packed_sequence_is_refused():
    model = nn.LSTM(FEATURES, HIDDEN)

    def forward(x):
        packed = nn.utils.rnn.pack_padded_sequence(x, [STEPS] * BATCH)
        return nn.utils.rnn.pad_packed_sequence(model(packed)[0])[0]

    wrapper = nn.Module()
    wrapper.lstm = model
    wrapper.forward = forward
    with pytest.raises(Pt2CaffeError, match="pack"):
        convert(wrapper, random_inputs([(STEPS, BATCH, FEATURES)]))
