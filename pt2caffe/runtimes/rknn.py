"""Rockchip RKNN's PC simulator (rknn-toolkit2 2.5.0) as a backend: a Caffe net through its ``load_caffe``, or
an ONNX model through ``load_onnx`` (check's yardstick for RKNN's float16 arithmetic: pt2caffe.check.rknn_route),
each run by pt2caffe/runtimes/rknn_worker.py in a child process of the RKNN environment's Python.

rknn-toolkit2 pins numpy ≤ 1.26.4, protobuf ≤ 4.25.4, onnx ≤ 1.18.0 and torch ≤ 2.4.0, which clash with
pt2caffe's own, so it lives in a virtualenv of its own made by scripts/install_rknn.sh (about a minute and
1.4 GB); its python is ``$PT2CAFFE_RKNN_PYTHON``, else ~/.cache/pt2caffe/rknn-2.5.0/bin/python. The simulator
computes in float16 and returns only the net's outputs (and blobs it takes for outputs, e.g. a Crop's
reference), by their blob names.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import numpy as np

from ..errors import Pt2CaffeError
from ..net.proto import read_prototxt

PYTHON_VARIABLE = "PT2CAFFE_RKNN_PYTHON"
DEFAULT_PYTHON = os.path.join("~", ".cache", "pt2caffe", "rknn-2.5.0", "bin", "python")
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rknn_worker.py")
TIMEOUT = 1800  # seconds: RKNN's graph optimisation of the largest zoo nets takes minutes


def rknn_python() -> str:
    """The RKNN environment's python; Pt2CaffeError (one line saying how to make it) when there is none."""
    python = os.environ.get(PYTHON_VARIABLE) or os.path.expanduser(DEFAULT_PYTHON)
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise Pt2CaffeError(f"RKNN's simulator is not installed ({python} missing): run bash scripts/install_rknn.sh "
                            f"(its own virtualenv: rknn-toolkit2 2.5.0, about 1.4 GB) or set {PYTHON_VARIABLE} to "
                            "a python that imports rknn.api")
    return python


def run_rknn(prototxt: str, caffemodel: str, inputs: dict[str, np.ndarray],
             blobs: list[str] | None = None) -> dict[str, np.ndarray]:
    """The Caffe net's outputs from RKNN's simulator, by blob name (those of ``blobs`` it returns, or all).
    Raises Pt2CaffeError naming the step that failed (load, build, init_runtime, inference)."""
    order = [top for layer in read_prototxt(prototxt).layer if layer.type == "Input" for top in layer.top[:1]]
    request = {"caffe": [os.path.abspath(prototxt), os.path.abspath(caffemodel)], "inputs": order}
    names, arrays = _run(request, inputs, prototxt)
    if not names:
        raise Pt2CaffeError(f"RKNN ran {prototxt} but did not name its outputs (rknn-toolkit2 other than 2.5.0?)")
    known = {_plain(name): name for name in _blob_names(prototxt)}
    found = {known.get(_plain(name), name): array for name, array in zip(names, arrays)}
    return {name: array for name, array in found.items() if blobs is None or name in blobs}


def run_rknn_onnx(model: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """An ONNX model's outputs (in its order) from RKNN's simulator, fed ``inputs`` in their order."""
    return _run({"onnx": os.path.abspath(model), "inputs": list(inputs)}, inputs, model)[1]


def _run(request: dict, inputs: dict[str, np.ndarray], label: str) -> tuple[list[str], list[np.ndarray]]:
    python = rknn_python()
    with tempfile.TemporaryDirectory(prefix="pt2caffe-rknn-") as work:  # RKNN writes files into its cwd
        paths = [os.path.join(work, name) for name in ("request.json", "inputs.npz", "outputs.npz")]
        with open(paths[0], "w", encoding="utf-8") as handle:
            json.dump(request, handle)
        np.savez(paths[1], **{name: np.ascontiguousarray(array, dtype=np.float32) for name, array in inputs.items()})
        try:  # -I: its own packages only (no PYTHONPATH, not the worker's folder, whose modules would shadow)
            done = subprocess.run([python, "-I", WORKER, *paths], cwd=work, capture_output=True, text=True,
                                  errors="replace", timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Pt2CaffeError(f"RKNN did not finish {label} within {TIMEOUT} s") from None
        if done.returncode != 0:
            raise Pt2CaffeError(f"RKNN failed on {label}: {_reason(done.stderr)}", detail=done.stderr)
        with np.load(paths[2]) as outputs:
            count = len([key for key in outputs.files if key.startswith("out")])
            return [str(name) for name in outputs["names"]], [outputs[f"out{i}"] for i in range(count)]


def _reason(log: str) -> str:
    """The worker's own failure line, else RKNN's last error line, else the last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for pattern in (r"^rknn: ", r"^E "):
        found = [line for line in lines if re.match(pattern, line)]
        if found:
            return found[-1][:300]
    return lines[-1][:300] if lines else "no message"


def _plain(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _blob_names(prototxt: str) -> list[str]:
    return [top for layer in read_prototxt(prototxt).layer for top in layer.top]

