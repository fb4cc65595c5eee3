"""Input shapes: declared dims, symbolic dims named in one line, --input-shape positional or NAME=dims."""
import pytest
from onnx import TensorProto, helper
import onnx

from pt2caffe.errors import Pt2CaffeError
from pt2caffe.frontends.onnx.inputs import input_specs, shapes_to_trace


def _model(*inputs):
    graph = helper.make_graph([helper.make_node("Identity", [inputs[0][0]], ["y"])], "g",
                              [helper.make_tensor_value_info(name, kind, dims) for name, dims, kind in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph)


def test_symbolic_dims_need_a_shape():
    specs = input_specs(_model(("images", ["N", 3, "H", "W"], TensorProto.FLOAT), ("extra", [1, 4], TensorProto.FLOAT)))
    with pytest.raises(Pt2CaffeError, match=r"images \[N, 3, H, W\].*--input-shape NAME=N,C,H,W"):
        shapes_to_trace("m.onnx", specs, None)
    assert shapes_to_trace("m.onnx", specs, ["images=2,3,32,48"]) == [(2, 3, 32, 48), (1, 4)]
    assert shapes_to_trace("m.onnx", specs, ["1,3,8,8", "1,4"]) == [(1, 3, 8, 8), (1, 4)]


def test_given_shape_must_fit_the_declaration():
    specs = input_specs(_model(("x", [1, 3, "H", "W"], TensorProto.FLOAT)))
    with pytest.raises(Pt2CaffeError, match="does not fit input 'x'"):
        shapes_to_trace("m.onnx", specs, ["1,4,8,8"])
    with pytest.raises(Pt2CaffeError, match="has no input 'y'"):
        shapes_to_trace("m.onnx", specs, ["y=1,3,8,8"])


def test_integer_inputs_are_refused():
    specs = input_specs(_model(("ids", [1, 7], TensorProto.INT64)))
    with pytest.raises(Pt2CaffeError, match="'ids' is not a float tensor"):
        shapes_to_trace("m.onnx", specs, None)
