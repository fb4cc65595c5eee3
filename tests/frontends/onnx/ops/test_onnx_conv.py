"""Conv and ConvTranspose: pads, auto_pad SAME_UPPER/SAME_LOWER/VALID, output_padding, output_shape."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("attrs", [{"pads": [1, 0, 2, 1], "strides": [2, 1]}, {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
                                   {"auto_pad": "SAME_LOWER"}, {"pads": [2, 1, 2, 1], "dilations": [2, 1]}, {"auto_pad": "VALID", "group": 2}])
def test_conv(tmp_path, attrs):
    group = attrs.get("group", 1)
    inits = {"w": RNG.uniform(-1, 1, (4, 4 // group, 3, 3)).astype(np.float32),
             "b": RNG.uniform(-1, 1, 4).astype(np.float32)}
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], **attrs)
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 4, 7, 8)}, ["y"], inits), tmp_path)


@pytest.mark.parametrize("attrs", [{"strides": [2, 2], "pads": [1, 0, 0, 1]},
                                   {"strides": [2, 2], "output_padding": [1, 0], "pads": [1, 1, 1, 1]},
                                   {"strides": [2, 2], "output_shape": [10, 12]},
                                   {"strides": [2, 2], "auto_pad": "SAME_UPPER"}])
def test_conv_transpose(tmp_path, attrs):
    inits = {"w": RNG.uniform(-1, 1, (3, 2, 3, 3)).astype(np.float32), "b": RNG.uniform(-1, 1, 2).astype(np.float32)}
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], **attrs)
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 3, 5, 6)}, ["y"], inits), tmp_path)


def test_conv_1d(tmp_path):
    inits = {"w": RNG.uniform(-1, 1, (4, 3, 3)).astype(np.float32)}
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3], pads=[2, 0])
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (2, 3, 9)}, ["y"], inits), tmp_path)
