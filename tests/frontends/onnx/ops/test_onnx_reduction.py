"""Reduce*: axes as attribute (before 18; ReduceSum before 13) or input, keepdims, noop_with_empty_axes."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file

OPS = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceSumSquare"]


@pytest.mark.parametrize("opset", [11, 18])
def test_reductions(tmp_path, opset):
    nodes, inits = [], {"axes": np.array([1, 3], np.int64)}
    for i, op in enumerate(OPS):
        as_input = opset >= (13 if op == "ReduceSum" else 18)
        attrs = {} if as_input else {"axes": [1, 3]}
        nodes.append(helper.make_node(op, ["x", "axes"] if as_input else ["x"], [f"y{i}"], keepdims=i % 2, **attrs))
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 4, 5)}, [f"y{i}" for i in range(len(OPS))],
                                inits, opset=opset), tmp_path)
