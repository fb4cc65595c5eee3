"""BatchNormalization (7, 9, 14), InstanceNormalization, LayerNormalization (17), GroupNormalization (18: a
scale per group; 21: per channel), LRN."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file

RNG = np.random.default_rng(3)


def _channels(count, low=-1.0, high=1.0):
    return RNG.uniform(low, high, count).astype(np.float32)


@pytest.mark.parametrize("opset", [7, 9, 14])
def test_batch_norm_versions(tmp_path, opset):
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)
    inits = {"s": _channels(3), "b": _channels(3), "m": _channels(3), "v": _channels(3, 0.5, 2.0)}
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (2, 3, 4, 5)}, ["y"], inits, opset=opset), tmp_path)


def test_instance_layer_lrn(tmp_path):
    nodes = [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["i"], epsilon=1e-4),
             helper.make_node("LayerNormalization", ["x", "ls", "lb"], ["l"], axis=-2),
             helper.make_node("LRN", ["x"], ["r"], size=3, alpha=1e-3, beta=0.75, bias=2.0)]
    inits = {"s": _channels(3), "b": _channels(3), "ls": RNG.uniform(0.5, 1.5, (4, 5)).astype(np.float32),
             "lb": RNG.uniform(-1, 1, (4, 5)).astype(np.float32)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 4, 5)}, ["i", "l", "r"], inits, opset=17),
                     tmp_path)


@pytest.mark.parametrize("opset", [18, 21])
def test_group_norm_versions(tmp_path, opset):
    count = 2 if opset == 18 else 6
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2, epsilon=1e-5)
    inits = {"s": _channels(count, 0.5, 1.5), "b": _channels(count)}
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 6, 3, 4)}, ["y"], inits, opset=opset), tmp_path)
