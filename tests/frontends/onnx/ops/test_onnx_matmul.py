"""Gemm (transA/transB, alpha, beta, bias shapes), MatMul with a weight and of two activations, Einsum."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file

RNG = np.random.default_rng(13)


@pytest.mark.parametrize("attrs,bias", [({}, (4,)), ({"transB": 1, "alpha": 0.5, "beta": 2.0}, (1, 4)),
                                        ({"transA": 1}, (3, 4))])
def test_gemm(tmp_path, attrs, bias):
    x_shape = (5, 3) if attrs.get("transA") else (3, 5)
    w_shape = (4, 5) if attrs.get("transB") else (5, 4)
    inits = {"w": RNG.uniform(-1, 1, w_shape).astype(np.float32), "c": RNG.uniform(-1, 1, bias).astype(np.float32)}
    node = helper.make_node("Gemm", ["x", "w", "c"], ["y"], **attrs)
    report = export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": x_shape}, ["y"], inits), tmp_path)
    assert report["initializers"]["w"], "the weight map names the Gemm weight's initializer"


def test_matmul_and_einsum(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["p"]), helper.make_node("MatMul", ["x", "xt"], ["q"]),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("Einsum", ["x", "x"], ["e"], equation="bik,bjk->bij")]
    nodes = [nodes[2], nodes[0], nodes[1], nodes[3]]
    inits = {"w": RNG.uniform(-1, 1, (6, 3)).astype(np.float32)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 4, 6)}, ["p", "q", "e"], inits, opset=12), tmp_path)
