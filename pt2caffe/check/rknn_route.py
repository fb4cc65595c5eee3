"""``check --backend rknn``: RKNN's float16 simulator judged by the same model's ONNX through RKNN.

RKNN (rknn-toolkit2 2.5.0, no quantisation) computes in float16, so no float32 tolerance applies: a single
3×3 Convolution already differs from float32 by 3.6e-4, deep nets by 1e-3 (issue 24's measurements). The
yardstick is what RKNN makes of the same model given the way users otherwise give it: its ONNX (the ONNX file
itself for an ONNX export; else ``torch.onnx.export`` of the PyTorch model, opset 13) through ``load_onnx``.
Where the two routes map layers alike they agree to the digit (ResNet-18: 9.08e-4 both); where they differ
RKNN's own float16 noise differs by up to 2.2× (recurrent nets, measured). A Caffe-route output that misses the
plain tolerance passes within ``ROUTE_FACTOR`` × the ONNX route's relative error at that output; a wrong
result (a layer RKNN loads and computes otherwise) is 0.1 or more. Without an ONNX route (the export fails,
or RKNN refuses it) the outputs keep their plain verdicts and the reason is reported.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import torch

from ..console import Progress
from ..errors import Pt2CaffeError, one_line
from ..runtimes.rknn import run_rknn_onnx
from .noise import relative_error
from .subject import Subject
from .torch_side import TorchSide

ROUTE_FACTOR = 4  # × the ONNX route's relative error: covers the measured 2.2× between RKNN's two mappings


def apply_onnx_route(results: list[dict], side: TorchSide, subject: Subject, progress: Progress) -> dict:
    """Judge the failing net outputs of ``results`` by the ONNX route (module docstring), in place: a passing one
    gets verdict "ok" and its ``floor``. Returns {"onnx_route": per output its relative error, or "reason": why
    there is none}."""
    outputs = _outputs(subject)
    failing = [result for result in results if result["verdict"] == "fail" and result["blob"] in outputs]
    if not failing:
        return {}
    progress.step("running the model's ONNX in RKNN's simulator (the yardstick of its float16)")
    try:
        errors = _route_errors(side, subject, outputs)
    except (Pt2CaffeError, RuntimeError, ValueError, TypeError) as failure:
        progress.clear()
        return {"reason": f"no ONNX route to judge RKNN's float16 by: {one_line(str(failure), 200)}"}
    progress.clear()
    for result in failing:
        floor = ROUTE_FACTOR * errors[result["blob"]]
        if result["rel"] is not None and result["rel"] <= floor:
            result.update(verdict="ok", floor=floor)
    return {"onnx_route": errors}


def _outputs(subject: Subject) -> list[str]:
    """The net outputs that the ONNX route has too, in its output order (blob names)."""
    report = subject.report or {}
    if subject.format == "onnx":
        return [entry["blob"] for entry in report.get("onnx_outputs", [])]
    return [entry["name"] for entry in report.get("outputs", []) if entry.get("torch") is not None]


def _route_errors(side: TorchSide, subject: Subject, outputs: list[str]) -> dict[str, float]:
    """{output blob: relative error of RKNN's ONNX-route output against PyTorch's (or the front end's)}."""
    names = [entry["name"] for entry in subject.report["inputs"]]
    feeds = {name: tensor.numpy() for name, tensor in zip(names, side.inputs)}
    with tempfile.TemporaryDirectory(prefix="pt2caffe-onnx-route-") as work:
        path = subject.model if subject.format == "onnx" else os.path.join(work, "model.onnx")
        if subject.format != "onnx":
            torch.onnx.export(side.model, tuple(side.inputs), path, opset_version=13, dynamo=False,
                              input_names=names)
        got = run_rknn_onnx(path, feeds)
    if len(got) < len(outputs):
        raise Pt2CaffeError(f"RKNN gave {len(got)} outputs for the ONNX model's {len(outputs)}")
    return {blob: relative_error(np.asarray(value, np.float64).reshape(-1),
                                 side.references[blob].astype(np.float64).reshape(-1))
            for blob, value in zip(outputs, got[len(got) - len(outputs):])}
