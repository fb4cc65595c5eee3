"""LSTM, GRU and RNN: ONNX gate orders (LSTM i,o,f,c; GRU z,r,h), directions, layout 0/1 (opset 14),
initial states, every output."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file, refusal

RNG = np.random.default_rng(7)
STEPS, BATCH, FEATURES, HIDDEN = 4, 2, 5, 3
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _weights(op, directions):
    gates = GATES[op]
    return {"W": RNG.uniform(-0.5, 0.5, (directions, gates * HIDDEN, FEATURES)).astype(np.float32),
            "R": RNG.uniform(-0.5, 0.5, (directions, gates * HIDDEN, HIDDEN)).astype(np.float32),
            "B": RNG.uniform(-0.5, 0.5, (directions, 2 * gates * HIDDEN)).astype(np.float32),
            "h0": RNG.uniform(-0.5, 0.5, (directions, BATCH, HIDDEN)).astype(np.float32)}


@pytest.mark.parametrize("op,direction,layout,reset_after", [
    ("LSTM", "forward", 0, 1), ("LSTM", "bidirectional", 1, 1), ("LSTM", "reverse", 0, 1), ("GRU", "bidirectional", 0, 1),
    ("GRU", "reverse", 1, 1), ("GRU", "bidirectional", 0, 0), ("GRU", "forward", 1, 0), ("RNN", "forward", 0, 1)])
def test_sequence(tmp_path, op, direction, layout, reset_after):
    directions = 2 if direction == "bidirectional" else 1
    inits = _weights(op, directions)
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    inputs = ["x", "W", "R", "B", "", "h0"]
    if op == "LSTM":
        inits["c0"] = RNG.uniform(-0.5, 0.5, (directions, BATCH, HIDDEN)).astype(np.float32)
        inputs.append("c0")
    attrs = {"hidden_size": HIDDEN, "direction": direction, "layout": layout}
    if op == "GRU" and reset_after:
        attrs["linear_before_reset"] = 1  # torch's GRU; ONNX's default 0 is written out step by step
    if layout == 1:  # states are batch-major too
        for state in ("h0", "c0"):
            if state in inits:
                inits[state] = np.ascontiguousarray(inits[state].transpose(1, 0, 2))
    shape = (BATCH, STEPS, FEATURES) if layout else (STEPS, BATCH, FEATURES)
    node = helper.make_node(op, inputs, outputs, **attrs)
    path = model_file(tmp_path / "m.onnx", [node], {"x": shape}, outputs, inits, opset=14)
    export_and_check(path, tmp_path, reference=_time_major_twin(tmp_path, node, shape, outputs, inits) if layout else None)


def _time_major_twin(tmp_path, node, shape, outputs, inits):
    """The same computation with layout 0 and Transposes around it (onnxruntime runs no layout 1)."""
    inits = dict(inits)
    for state in ("h0", "c0"):
        if state in inits:
            inits[state] = np.ascontiguousarray(inits[state].transpose(1, 0, 2))
    inner = helper.make_node(node.op_type, ["xt"] + list(node.input[1:]), [f"{name}_t" for name in outputs])
    inner.attribute.extend(a for a in node.attribute if a.name != "layout")
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), inner,
             helper.make_node("Transpose", ["Y_t"], ["Y"], perm=[2, 0, 1, 3])]
    nodes += [helper.make_node("Transpose", [f"{name}_t"], [name], perm=[1, 0, 2]) for name in outputs[1:]]
    return model_file(tmp_path / "twin.onnx", nodes, {"x": shape}, outputs, inits, opset=14)


def test_rnn_relu_without_bias_or_states(tmp_path):
    inits = {key: value for key, value in _weights("RNN", 1).items() if key in ("W", "R")}
    node = helper.make_node("RNN", ["x", "W", "R"], ["Y", "Y_h"], hidden_size=HIDDEN, activations=["Relu"])
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (STEPS, BATCH, FEATURES)}, ["Y", "Y_h"], inits),
                     tmp_path)


def _lstm_file(tmp_path, extra_inputs=(), inits=None, **attrs):
    """An LSTM node named 'lstm' with random weights; ``extra_inputs`` after x, W, R, B."""
    inits = {**{key: value for key, value in _weights("LSTM", 1).items() if key != "h0"}, **(inits or {})}
    node = helper.make_node("LSTM", ["x", "W", "R", "B", *extra_inputs], ["Y", "Y_h"], name="lstm", hidden_size=HIDDEN,
                            **attrs)
    return model_file(tmp_path / "m.onnx", [node], {"x": (STEPS, BATCH, FEATURES)}, ["Y", "Y_h"], inits, opset=14)


def test_zero_peepholes_and_full_sequence_lengths_are_plain_lstm(tmp_path):
    """Exporters that write every optional input give P = 0 and sequence_lens = T: the same LSTM."""
    export_and_check(_lstm_file(tmp_path, ["lens", "", "", "P"], {"P": np.zeros((1, 3 * HIDDEN), np.float32),
                                                                  "lens": np.full(BATCH, STEPS, np.int32)}), tmp_path)


@pytest.mark.parametrize("direction,layout,clip", [("bidirectional", 0, None), ("forward", 1, 0.5), ("reverse", 0, 0.5)])
def test_lstm_with_peepholes_and_clip_written_out(tmp_path, direction, layout, clip):
    """Peepholes and cell clipping, which torch's LSTM lacks: the LSTM step by step, against onnxruntime (on the
    time-major twin for layout 1). A clip of 0.5 bounds most gate inputs here."""
    directions = 2 if direction == "bidirectional" else 1
    inits = {key: value for key, value in _weights("LSTM", directions).items() if key != "h0"}
    inits["P"] = RNG.uniform(-1, 1, (directions, 3 * HIDDEN)).astype(np.float32)
    inits["c0"] = RNG.uniform(-1, 1, (directions, BATCH, HIDDEN) if not layout else (BATCH, directions, HIDDEN))
    inits["c0"] = inits["c0"].astype(np.float32)
    outputs = ["Y", "Y_h", "Y_c"]
    attrs = {"hidden_size": HIDDEN, "direction": direction, "layout": layout, **({"clip": clip} if clip else {})}
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "", "", "c0", "P"], outputs, **attrs)
    shape = (BATCH, STEPS, FEATURES) if layout else (STEPS, BATCH, FEATURES)
    path = model_file(tmp_path / "m.onnx", [node], {"x": shape}, outputs, inits, opset=14)
    export_and_check(path, tmp_path, reference=_time_major_twin(tmp_path, node, shape, outputs, inits) if layout else None)


@pytest.mark.parametrize("direction,attrs", [
    ("bidirectional", {"activations": ["HardSigmoid", "Tanh", "Tanh"] * 2, "activation_alpha": [0.2, 0.2],
                       "activation_beta": [0.5, 0.5]}),  # Keras's LSTM before TF 2 (recurrent_activation hard_sigmoid)
    ("forward", {"activations": ["Sigmoid", "LeakyRelu", "ScaledTanh"], "activation_alpha": [0.1, 0.8],
                 "activation_beta": [1.2]}),
    ("reverse", {"activations": ["Affine", "Softsign", "Elu"], "activation_alpha": [0.3, 0.7], "activation_beta": [0.4]}),
    ("forward", {"activations": ["Sigmoid", "Softplus", "Relu"]}),
])
def test_lstm_activations_written_out(tmp_path, direction, attrs):
    """Other activations than sigmoid/tanh (alphas and betas taken in order), against onnxruntime."""
    directions = 2 if direction == "bidirectional" else 1
    inits = {key: value for key, value in _weights("LSTM", directions).items() if key != "h0"}
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h", "Y_c"], hidden_size=HIDDEN, direction=direction,
                            **attrs)
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (STEPS, BATCH, FEATURES)}, ["Y", "Y_h", "Y_c"],
                                inits, opset=14), tmp_path)


@pytest.mark.parametrize("extra_inputs,inits,attrs,reason", [
    (["", "", "", "P"], {"P": np.full((1, 2 * HIDDEN), 0.5, np.float32)}, {}, "peephole weights (P) of shape [1, 6]"),
    (["lens"], {"lens": np.array([STEPS, 2], np.int32)}, {}, "shorter than the sequence"),
    ([], {}, {"input_forget": 1}, "input_forget=1"),
    ([], {}, {"activations": ["Sigmoid", "ThresholdedRelu", "Tanh"]}, "activation ThresholdedRelu is not supported"),
])
def test_lstm_variants_torch_lacks_are_refused_naming_the_node(tmp_path, extra_inputs, inits, attrs, reason):
    assert reason in refusal(_lstm_file(tmp_path, extra_inputs, inits, **attrs))
