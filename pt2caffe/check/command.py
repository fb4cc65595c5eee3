"""``pt2caffe check``: run PyTorch and Caffe on the same input, compare every mapped blob, print the
verdict (the whole procedure: pt2caffe.check)."""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from ..console import Progress
from ..errors import one_line
from ..net.files import json_text, write_files
from ..runtimes.backends import default_backend
from .compare import FAILING, PASSING, compare_all, suspects
from .detections import ssd_blobs, ssd_outcome
from .drawing import draw_report
from .run import known_refusals, run_caffe
from .subject import CaffeNet, Subject, caffe_net, subject_of
from .table import print_outcome, summary
from .onnx_side import load_onnx, onnxruntime_outcome, trace_onnx_side
from .rknn_route import apply_onnx_route
from .torch_side import load_inputs_for, load_torch, trace_torch


def _verdicts_by_layer(results: list[dict], first: dict | None, crash_layer: str | None) -> dict[str, str]:
    verdicts = {crash_layer: "fail"} if crash_layer else {}
    for result in results:
        verdict = "first" if result is first else result["verdict"]
        if verdict in ("ok", "fail", "shape", "missing", "first"):
            verdicts[result["layer"]] = verdict
    return verdicts


def _drawing_report(subject: Subject, net: CaffeNet, rows: list[dict]) -> dict:
    """The checked prototxt as a report for drawing.py, torch modules taken from the mapping."""
    modules = {row["layer"]: row["module"] for row in rows}
    layers = [{"name": layer.name, "type": layer.type, "bottoms": list(layer.bottom), "tops": list(layer.top),
               "module": modules.get(layer.name, ""), "source": ""} for layer in net.proto.layer]
    return {"name": net.proto.name or os.path.basename(subject.prefix), "layers": layers, "blobs": rows}


@contextmanager
def _timed(timings: dict, name: str):
    clock = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - clock


def run_both(subject: Subject, net: CaffeNet, args, backend: str, progress: Progress, timings: dict):
    """PyTorch (or the ONNX front end) here, then Caffe in a child process, on the same input."""
    onnx = subject.format == "onnx"
    with _timed(timings, "load"):
        model, shapes = (load_onnx if onnx else load_torch)(subject, progress)
        inputs, input_note = load_inputs_for(subject, args.input, net, shapes)
    with _timed(timings, "torch"):
        torch_side = (trace_onnx_side if onnx else trace_torch)(subject, model, inputs, progress)
    with _timed(timings, "caffe"):
        feeds = {name: tensor.numpy() for name, tensor in zip(net.inputs, inputs)}
        present = [row["blob"] for row in torch_side.rows if row["blob"] in net.producer]
        present += ssd_blobs(subject.report, net)
        caffe = run_caffe(subject, net, feeds, present, backend, args.docker_image, progress)
    return torch_side, caffe, input_note


def main(args) -> int:
    """The ``check`` command on parsed arguments (pt2caffe.cli): 0 when every blob passes, 1 otherwise."""
    started = time.perf_counter()
    progress = Progress()
    subject = subject_of(args)
    net = caffe_net(subject.prototxt)
    backend = args.backend or default_backend()
    timings = dict.fromkeys(("load", "torch", "caffe", "compare"), 0.0)  # seconds, in this order
    torch_side, caffe, input_note = run_both(subject, net, args, backend, progress, timings)
    with _timed(timings, "compare"):
        results = compare_all(torch_side, net, caffe, args, backend, progress)
    route = apply_onnx_route(results, torch_side, subject, progress) if backend == "rknn" else None
    reference = None
    if subject.format == "onnx":  # the outputs against an independent engine too
        with _timed(timings, "onnxruntime"):
            reference = onnxruntime_outcome(subject, torch_side, caffe.blobs, results, args, progress)
    timings["total"] = time.perf_counter() - started

    ssd = ssd_outcome(subject.report, torch_side, caffe)
    first = next((result for result in results if result["verdict"] in FAILING), None)
    verified = {result["blob"] for result in results if result["verdict"] == "ok"}
    outcome = {"ok": all(result["verdict"] in PASSING for result in results) and (ssd is None or ssd["ok"])
               and (reference is None or reference["ok"]),
               "backend": backend, "ssd": ssd, "onnxruntime": reference, "rknn": route,
               "input": input_note, "prototxt": os.path.abspath(subject.prototxt),
               "caffemodel": os.path.abspath(subject.caffemodel), "atol": args.atol, "rtol": args.rtol,
               "first_divergence": first and dict(first, suspects=suspects(first["blob"], net, verified)),
               "crash": caffe.crash, "bad_weights": torch_side.bad_weights or None, "blobs": results,
               "ties": [dict(result["ties"], blob=result["blob"]) for result in results if result["verdict"] == "tie"],
               "seconds": timings}
    outcome["verdict"] = summary(results, args, caffe.crash, torch_side.bad_weights)
    print_outcome(outcome, results, first, args)
    if not outcome["ok"]:  # the table stays on stdout; scripts and CI logs see the verdict on stderr too
        verdict = outcome["verdict"] if not outcome["verdict"].startswith("OK") else \
            "FAIL: the outputs differ from onnxruntime's, see the onnxruntime lines above" if reference and \
            not reference["ok"] else "FAIL: the SSD head (priors or detections) is out of tolerance, see the SSD lines above"
        known = "" if caffe.crash else known_refusals(subject.report, backend)  # a crash line names them already
        print(f"pt2caffe: check failed: {one_line(verdict)}{known}", file=sys.stderr)
    if args.json:
        _write_json(args.json, outcome)
        print(f"wrote {args.json}")
    if args.graph:
        progress.step("drawing the net")
        paths = draw_report(_drawing_report(subject, net, torch_side.rows), subject.prefix + ".check",
                            _verdicts_by_layer(results, first, caffe.crash_layer), formats=args.graph_format)
        progress.clear()
        for path in paths:
            print(f"wrote {path}")
    return 0 if outcome["ok"] else 1


def _write_json(path: str, outcome: dict) -> None:
    write_files({path: json_text(outcome)})
