"""Build small ONNX models in code and prove their export: pycaffe against the front end on every blob and
against onnxruntime on every output (onnxruntime is the independent reference)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pt2caffe.conversion.onnx_export import convert_onnx
from pt2caffe.conversion.writing import write
from pt2caffe.frontends.onnx.interpreter import OnnxModule
from pt2caffe.frontends.onnx.model_file import read
from pt2caffe.frontends.torch.shapes import random_inputs
from pt2caffe.runtimes.launch import run_onnxruntime, run_pycaffe

TOLERANCE = 1e-4  # max |caffe − reference| / max |reference|


def model_file(path, nodes, inputs: dict, outputs: list[str], initializers: dict | None = None, opset: int = 13,
               ir_version: int = 7) -> str:
    """Write an ONNX model: ``inputs`` {name: shape} (float32), ``outputs`` names (type only), ``initializers``
    {name: array}; returns the path."""
    graph = helper.make_graph(
        nodes, "case", [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)
    onnx.save(model, str(path))
    return str(path)


def relative(values: np.ndarray, reference: np.ndarray) -> float:
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    difference = float(np.abs(values.astype(np.float64) - reference).max()) if reference.size else 0.0
    return difference / scale if scale > 0 else difference


def export_and_check(path: str, tmp_path, shapes=None, reference: str | None = None) -> dict:
    """Export ``path`` and assert: every mapped blob in pycaffe within TOLERANCE of the front end's value,
    every output within TOLERANCE of onnxruntime's on ``path`` (or on ``reference``, an equivalent model with
    the same input and output names, for what onnxruntime does not run). Returns the report."""
    module = OnnxModule(read(path)).eval()
    specs_shapes = shapes or [tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
                              for v in onnx.load(path).graph.input if v.name in module.input_names]
    inputs = random_inputs(specs_shapes, seed=5)
    conversion = convert_onnx(module, inputs, capture=True)
    report = write(conversion, str(tmp_path / "net"))
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], inputs)}
    compared = {row["blob"]: conversion.graph.values[row["value"]].tensor.numpy() for row in report["blobs"]}
    got = run_pycaffe(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), feeds, list(compared))
    bad = {blob: relative(got[blob].reshape(ref.shape), ref) for blob, ref in compared.items()}
    assert all(err <= TOLERANCE for err in bad.values()), {k: v for k, v in bad.items() if v > TOLERANCE}
    expected = run_onnxruntime(reference or path, {name: t.numpy() for name, t in zip(module.input_names, inputs)},
                               [entry["onnx"] for entry in report["outputs"]])
    for entry in report["outputs"]:
        reference = expected[entry["onnx"]]
        error = relative(got[entry["name"]].reshape(reference.shape), reference)
        assert error <= TOLERANCE, f"output {entry['onnx']}: {error:.2e} from onnxruntime"
    return report
