"""The ONNX side of ``check``: the model run by pt2caffe's ONNX front end, whose every traced value is the
reference of its Caffe blob (so the first diverging ONNX node is named), and by onnxruntime, an independent
engine, whose outputs the net's outputs must match too."""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..console import Progress
from ..conversion.onnx_export import convert_onnx
from ..conversion.report import report as conversion_report
from ..conversion.writing import non_finite
from ..errors import Pt2CaffeError
from ..frontends.onnx.inputs import input_specs, shapes_to_trace
from ..frontends.onnx.interpreter import OnnxModule
from ..frontends.onnx.model_file import read
from ..runtimes.launch import run_onnxruntime
from .compare import measure
from .subject import Subject
from .torch_side import TorchSide, reference_arrays


def load_onnx(subject: Subject, progress: Progress):
    """The front end's module for the ONNX file and the input shapes (the export's, else --input-shape or the
    file's declared dims); Pt2CaffeError when the file changed since the export (its sha256 differs from the
    report's), and, as for ``run``, for symbolic dims not given (pt2caffe.frontends.onnx.inputs)."""
    progress.step(f"loading {subject.model}")
    with open(subject.model, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    recorded = (subject.report or {}).get("source", {}).get("sha256")
    if recorded and digest != recorded:
        raise Pt2CaffeError(f"{subject.model} changed since the export (sha256 {digest[:12]}…, the export's "
                            f"{recorded[:12]}…): export it again")
    source = read(subject.model)
    return OnnxModule(source).eval(), shapes_to_trace(subject.model, input_specs(source.model), subject.input_shapes)


def trace_onnx_side(subject: Subject, module: OnnxModule, inputs, progress: Progress) -> TorchSide:
    """Run the front end once, capturing every traced value (as pt2caffe.check.torch_side does for torch)."""
    progress.step(f"running {module.source.name} in the ONNX front end and tracing every node")
    conversion = convert_onnx(module, inputs, capture=True, probe_sizes=False)
    exported = [entry["shape"] for entry in subject.report["inputs"]] if subject.report else None
    same_size = exported == [list(tensor.shape) for tensor in inputs]
    mapping = subject.report if same_size else conversion_report(conversion, {})
    rows = mapping["blobs"]
    bad = non_finite((name, tensor.numpy()) for name, tensor in module.named_buffers() if tensor.is_floating_point())
    return TorchSide(rows, reference_arrays(rows, conversion.graph, subject.prefix + ".json"), conversion.graph, bad,
                     module, inputs, mapping["onnx_outputs"])


def onnxruntime_outcome(subject: Subject, side: TorchSide, caffe_blobs: dict, results: list[dict], args,
                        progress: Progress) -> dict:
    """Each net output against onnxruntime's output of the same ONNX name, within atol + rtol·max|onnxruntime|
    (rtol raised to the blob's float32 noise floor where the comparison with the front end used one: OpenCV,
    MNN); and the front end's own output against onnxruntime, so that a difference says whether the Caffe net
    or the front end's reading of the file is off."""
    progress.step("running onnxruntime")
    module = side.model
    outputs = side.onnx_outputs
    feeds = {name: tensor.numpy() for name, tensor in zip(module.input_names, side.inputs)}
    expected = run_onnxruntime(subject.model, feeds, [entry["onnx"] for entry in outputs])
    with torch.no_grad():
        own = dict(zip(module.output_names, module(*side.inputs)))
    floors = {result["blob"]: result.get("floor", args.rtol) for result in results}
    rows = []
    for entry in outputs:
        reference = np.asarray(expected[entry["onnx"]], dtype=np.float32)
        caffe = caffe_blobs.get(entry["blob"])
        row = {"output": entry["onnx"], "blob": entry["blob"],
               "caffe": None if caffe is None or caffe.size != reference.size else
               measure(np.asarray(caffe, np.float32).reshape(reference.shape), reference),
               "front_end": measure(own[entry["onnx"]].numpy().astype(np.float32).reshape(reference.shape), reference)}
        rtol = floors.get(entry["blob"], args.rtol)
        row["ok"] = all(m is not None and m["max_abs"] <= args.atol + rtol * m["scale"]
                        for m in (row["caffe"], row["front_end"]))
        rows.append(row)
    return {"ok": all(row["ok"] for row in rows), "outputs": rows}
