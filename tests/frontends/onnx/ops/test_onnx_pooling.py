"""MaxPool/AveragePool (pads, auto_pad, ceil_mode, count_include_pad, 1-D), global pools."""
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file


def test_pools(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 1],
                              ceil_mode=1),
             helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 0, 1],
                              count_include_pad=0, ceil_mode=1),
             helper.make_node("AveragePool", ["x"], ["i"], kernel_shape=[2, 2], auto_pad="SAME_UPPER",
                              count_include_pad=1),
             helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("GlobalMaxPool", ["x"], ["h"])]
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 2, 7, 6)}, ["m", "a", "i", "g", "h"], opset=11),
                     tmp_path)


def test_max_pool_1d(tmp_path):
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3], strides=[2], pads=[1, 1])
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (2, 3, 11)}, ["y"]), tmp_path)


@pytest.mark.parametrize("kernel,pads", [([5, 3], [2, 0, 2, 2]), ([3, 3], [0, 1, 2, 0])])
def test_dilated_max_pool_with_asymmetric_pads(tmp_path, kernel, pads):
    """The extra pads hold float32's lowest (onnxruntime's start of a max): with dilation the edge value is no
    stand-in, a window may skip the edge. (Stride and symmetric pads multiples of the dilation: the dilated
    pooling lowering's condition.)"""
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=kernel, strides=[2, 2], pads=pads, dilations=[2, 2])
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 3, 11, 10)}, ["y"]), tmp_path)
