"""Build small ONNX models in code and prove their export: pycaffe against the front end on every blob and
against a reference on every output (onnxruntime, the independent engine, unless a test has the expected
outputs itself); OpenCV and MNN on every output where a test asks."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from helpers import RUNTIMES, NoiseFloor, compare_runtime, log_errors, relative_error
from pt2caffe.conversion.onnx_export import convert_onnx
from pt2caffe.conversion.pipeline import Conversion
from pt2caffe.conversion.writing import write
from pt2caffe.errors import Pt2CaffeError
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
    """max |values − reference| / max |reference|, where a NaN matches a NaN of the reference (the square
    root or power of a negative number) and is an infinite error anywhere else."""
    values, reference = values.astype(np.float64), reference.astype(np.float64)
    undefined = np.isnan(reference)
    if (np.isnan(values) != undefined).any():
        return float("inf")
    return relative_error(values[~undefined], reference[~undefined])


@dataclasses.dataclass
class OnnxExport:
    """An ONNX file exported by a test: the front end's module, the inputs it was traced on, the conversion,
    the report, and the files written at ``prefix`` (.prototxt, .caffemodel, .json)."""

    path: str
    module: OnnxModule
    inputs: list[torch.Tensor]
    conversion: Conversion
    report: dict
    prefix: str

    @property
    def files(self) -> tuple[str, str]:
        return self.prefix + ".prototxt", self.prefix + ".caffemodel"

    @property
    def feeds(self) -> dict[str, np.ndarray]:
        """The inputs by Caffe input blob."""
        return {entry["name"]: tensor.numpy() for entry, tensor in zip(self.report["inputs"], self.inputs)}


def declared_shapes(path: str, module: OnnxModule) -> list[tuple[int, ...]]:
    """The input shapes the file declares (data inputs only)."""
    return [tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
            for v in onnx.load(path, load_external_data=False).graph.input if v.name in module.input_names]


def export_onnx(path: str, tmp_path, *, inputs: list[torch.Tensor] | None = None, shapes=None,
                probe_sizes: bool = True) -> OnnxExport:
    """Export ``path`` traced on ``inputs`` (default: random inputs of ``shapes`` or of the declared shapes) and
    write the files to tmp_path/net."""
    module = OnnxModule(read(path)).eval()
    inputs = inputs if inputs is not None else random_inputs(shapes or declared_shapes(path, module), seed=5)
    conversion = convert_onnx(module, inputs, capture=True, probe_sizes=probe_sizes)
    report = write(conversion, str(tmp_path / "net"))
    return OnnxExport(path, module, inputs, conversion, report, str(tmp_path / "net"))


def onnxruntime_outputs(export: OnnxExport, reference: str | None = None) -> dict[str, np.ndarray]:
    """onnxruntime's outputs {ONNX name: array} on the export's inputs, running the file (or ``reference``,
    an equivalent model with the same input and output names, for what onnxruntime does not run)."""
    feeds = {name: tensor.numpy() for name, tensor in zip(export.module.input_names, export.inputs)}
    return run_onnxruntime(reference or export.path, feeds, [entry["onnx"] for entry in export.report["outputs"]])


def check_pycaffe(export: OnnxExport, expected: dict[str, np.ndarray]) -> dict[str, float]:
    """Assert every mapped blob in pycaffe within TOLERANCE of the front end's value and every output within
    TOLERANCE of ``expected`` {ONNX output name: array}. Returns {ONNX output name: relative error}."""
    report = export.report
    compared = {row["blob"]: export.conversion.graph.values[row["value"]].tensor.numpy() for row in report["blobs"]}
    got = run_pycaffe(*export.files, export.feeds, list(compared))
    bad = {blob: relative(got[blob].reshape(ref.shape), ref) for blob, ref in compared.items()}
    assert all(err <= TOLERANCE for err in bad.values()), {k: v for k, v in bad.items() if not v <= TOLERANCE}
    errors = {}
    for entry in report["outputs"]:
        reference = expected[entry["onnx"]]
        errors[entry["onnx"]] = error = relative(got[entry["name"]].reshape(reference.shape), reference)
        assert error <= TOLERANCE, f"output {entry['onnx']}: {error:.2e} from the reference"
    log_errors("pycaffe", errors)
    log_errors("pycaffe blobs vs front end", bad)
    return errors


def check_runtimes(export: OnnxExport, expected: dict[str, np.ndarray], exceptions: dict[str, str] | None = None):
    """OpenCV and MNN on every output against ``expected`` {ONNX output name: array}, each finding the outputs
    itself, within TOLERANCE or the model's float32 noise floor (the front end in float64); ``exceptions``
    {runtime: reason} as in helpers.export_and_compare (the runtime must then fail)."""
    references = {entry["name"]: expected[entry["onnx"]] for entry in export.report["outputs"]}
    floor = NoiseFloor(export.module, export.inputs, list(references))
    for runtime in RUNTIMES:
        compare_runtime(runtime, export.files, export.feeds, references, floor, TOLERANCE,
                        (exceptions or {}).get(runtime))


def refusal(path: str) -> str:
    """The Pt2CaffeError of running ``path`` in the front end on random inputs of its declared shapes, asserted
    to be one line naming the file, the node (by name) and its op_type and opset."""
    module = OnnxModule(read(path)).eval()
    with pytest.raises(Pt2CaffeError) as error:
        module(*random_inputs(declared_shapes(path, module)))
    message = str(error.value)
    node = onnx.load(path).graph.node[-1]
    assert "\n" not in message and os.path.basename(path) in message
    assert f"node '{node.name}' ({node.op_type}, opset " in message, message
    return message


def export_and_check(path: str, tmp_path, shapes=None, reference: str | None = None) -> dict:
    """Export ``path`` and assert: every mapped blob in pycaffe within TOLERANCE of the front end's value,
    every output within TOLERANCE of onnxruntime's on ``path`` (or on ``reference``, see onnxruntime_outputs).
    Returns the report."""
    export = export_onnx(path, tmp_path, shapes=shapes)
    check_pycaffe(export, onnxruntime_outputs(export, reference))
    return export.report
