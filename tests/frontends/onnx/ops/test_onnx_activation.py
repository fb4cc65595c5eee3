"""Activations and softmax, per opset: exported nets match onnxruntime in pycaffe."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_axis_semantics(tmp_path, opset):
    """Before 13 Softmax coerces to 2-D at axis (here 2: over C·… = H·W jointly); from 13 one axis."""
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=2), helper.make_node("LogSoftmax", ["x"], ["l"], axis=1)]
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 4, 5)}, ["s", "l"], opset=opset), tmp_path)


@pytest.mark.parametrize("opset", [7, 11])
def test_clip_bounds_as_attributes_then_inputs(tmp_path, opset):
    if opset < 11:
        node = helper.make_node("Clip", ["x"], ["y"], min=-0.3, max=0.5)
        inits = {}
    else:
        node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
        inits = {"lo": np.array(-0.3, np.float32), "hi": np.array(0.5, np.float32)}
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 3, 4, 4)}, ["y"], inits, opset=opset), tmp_path)


def test_pointwise_activations(tmp_path):
    ops = [("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
           ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.2, "beta": 0.5}), ("HardSwish", {}), ("Tanh", {}),
           ("Softplus", {}), ("Softsign", {}), ("Erf", {}), ("Gelu", {}), ("Exp", {}), ("Abs", {}), ("Neg", {})]
    nodes = [helper.make_node(op, ["x"], [f"y{i}"], **attrs) for i, (op, attrs) in enumerate(ops)]
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 2, 5, 6)}, [f"y{i}" for i in range(len(ops))],
                                opset=20), tmp_path)


def test_prelu_per_channel_and_shared(tmp_path):
    nodes = [helper.make_node("PRelu", ["x", "c"], ["a"]), helper.make_node("PRelu", ["x", "s"], ["b"])]
    inits = {"c": np.array([0.1, -0.2, 0.3], np.float32).reshape(3, 1, 1), "s": np.array([0.25], np.float32)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 3, 4, 4)}, ["a", "b"], inits), tmp_path)


def test_where_with_a_constant_condition(tmp_path):
    """An attention-style mask: Where(constant mask, scores, −1e4), then Softmax."""
    mask = np.tril(np.ones((5, 5), bool))
    nodes = [helper.make_node("Where", ["mask", "x", "fill"], ["masked"]),
             helper.make_node("Softmax", ["masked"], ["y"], axis=-1)]
    inits = {"mask": mask, "fill": np.array(-1e4, np.float32)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 5, 5)}, ["y"], inits), tmp_path)
