"""What the front end refuses (one line naming file, node, op_type and opset) and how it names things:
ops carry their ONNX node, weights their initializer, outputs their ONNX name."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.frontends.onnx.interpreter import OnnxModule
from pt2caffe.frontends.onnx.model_file import read


def _refusal(tmp_path, nodes, inits=None, opset=13):
    path = model_file(tmp_path / "m.onnx", nodes, {"x": (1, 3, 4, 4)}, [nodes[-1].output[0]], inits, opset=opset)
    with pytest.raises(Pt2CaffeError) as error:
        OnnxModule(read(path))(*[__import__("torch").rand(1, 3, 4, 4)])
    message = str(error.value)
    assert "\n" not in message and "m.onnx" in message
    return message


def test_data_dependent_ops_are_refused(tmp_path):
    message = _refusal(tmp_path, [helper.make_node("NonZero", ["x"], ["nz"], name="find")])
    assert "node 'find' (NonZero, opset 13)" in message and "data-dependent" in message
    message = _refusal(tmp_path, [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")],
                       {"k": np.array([2], np.int64)})
    assert "(TopK, opset 13)" in message


def test_unknown_op_and_domain(tmp_path):
    assert "no converter for Hardmax" in _refusal(tmp_path, [helper.make_node("Hardmax", ["x"], ["y"])])
    custom = helper.make_node("Foo", ["x"], ["y"], domain="com.vendor")
    assert "com.vendor" in _refusal(tmp_path, [custom])


def test_shape_from_values_is_refused(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["c"], to=7), helper.make_node("Reshape", ["x", "c"], ["y"], name="r")]
    message = _refusal(tmp_path, nodes)
    assert "Cast" in message or "data-dependent" in message


def test_names_come_from_the_onnx_file(tmp_path):
    inits = {"fc.weight": np.random.default_rng(0).uniform(-1, 1, (4, 6)).astype(np.float32),
             "fc.bias": np.zeros(6, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm")]
    path = model_file(tmp_path / "m.onnx", nodes, {"x": (2, 4)}, ["logits"], inits)
    report = export_and_check(path, tmp_path)
    assert [entry["onnx"] for entry in report["outputs"]] == ["logits"]
    assert report["outputs"][0]["name"] == "logits"
    layer = next(layer for layer in report["layers"] if layer["type"] == "InnerProduct")
    assert layer["onnx_node"] == {"name": "/fc/Gemm", "op_type": "Gemm"} and "node 0 (Gemm, opset 13)" in layer["source"]
    assert [use["transform"] for use in report["initializers"]["fc.weight"]] == ["t(fc.weight)"]
    assert report["source"] == {} or report["source"]["format"] == "onnx"


def test_if_on_a_shape_runs_the_chosen_branch(tmp_path):
    """torch.onnx writes LRN with an If on the input's rank: a constant condition, one branch inline."""
    then_branch = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", 1, None)])
    else_branch = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", 1, None)])
    nodes = [helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Size", ["shape"], ["rank"]),
             helper.make_node("Equal", ["rank", "four"], ["is4"]),
             helper.make_node("If", ["is4"], ["y"], then_branch=then_branch, else_branch=else_branch, name="pick")]
    report = export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 3, 4, 4)}, ["y"],
                                         {"four": np.array(4, np.int64)}), tmp_path)
    from_nodes = [layer for layer in report["layers"] if layer["onnx_node"]]  # not the Input and its size guard
    assert [(layer["type"], layer["onnx_node"]["name"]) for layer in from_nodes] == [("ReLU", "pick/then/t")]


def test_if_on_the_input_values_is_refused(tmp_path):
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "b", [],
                               [helper.make_tensor_value_info("t", 1, None)])
    nodes = [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0), helper.make_node("Cast", ["m"], ["c"], to=9),
             helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch, name="branch")]
    message = _refusal(tmp_path, nodes)
    assert "Cast" in message or "(If, opset 13)" in message


def test_training_outputs_nobody_reads_are_fine(tmp_path):
    """caffe2's Dropout-9 names its mask output though nothing reads it: inference all the same."""
    nodes = [helper.make_node("Dropout", ["x"], ["d", "mask"]), helper.make_node("Relu", ["d"], ["y"])]
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 3, 4, 4)}, ["y"], opset=9), tmp_path)
    nodes.append(helper.make_node("Cast", ["mask"], ["m"], to=1))
    nodes.append(helper.make_node("Mul", ["y", "m"], ["z"]))
    assert "mask output is used" in _refusal(tmp_path, nodes, opset=9)
