"""Run nets in the reference pycaffe, OpenCV's and MNN's Caffe importers, each in a child process.

Why child processes: Caffe kills the whole process with SIGABRT on an unknown layer type or
field, so every net runs in ``worker.py`` in a fresh interpreter, and a failure comes
back as a one-line Pt2CaffeError instead of taking the caller down.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import numpy as np

from ..errors import Pt2CaffeError
from . import worker
from .reference_caffe import caffe_pythonpath


def run_pycaffe(prototxt: str, caffemodel: str | None, inputs: dict[str, np.ndarray],
                blobs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Run the net in the reference pycaffe (TEST phase, CPU) in a child process.

    Each input blob is reshaped to its array's shape before the forward pass. Returns the
    requested blobs, or every blob of the net when ``blobs`` is None. Without ``caffemodel``
    the layers keep their filler values. A load or run failure (including Caffe's abort)
    raises Pt2CaffeError with Caffe's fatal message as one line and its full log as detail.
    """
    return _run_worker("caffe", prototxt, caffemodel, inputs, blobs)


def run_opencv(prototxt: str, caffemodel: str | None, inputs: dict[str, np.ndarray],
               blobs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Run the net with OpenCV's dnn Caffe importer in a child process (like run_pycaffe).

    ``blobs`` names blobs, as for pycaffe (the worker finds the layer that writes each last);
    None means the network outputs. OpenCV cannot return a blob that only an Input layer
    produces (it folds Input layers away). OpenCV raises instead of aborting, but a child
    process keeps both engines symmetric and cv2 out of this process.
    """
    return _run_worker("opencv", prototxt, caffemodel, inputs, blobs)


def run_mnn(prototxt: str, caffemodel: str, inputs: dict[str, np.ndarray],
            blobs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Convert the net with MNN's Caffe converter and run it with MNN's CPU backend (high
    precision, one thread) in a child process.

    ``blobs`` None returns MNN's session outputs, which MNN takes to be the model's outputs.
    With a list, returns those named blobs that survive in MNN's converted graph: MNN fuses
    layers (a Convolution absorbs its BatchNorm, Scale and ReLU) and their blobs disappear, so
    callers must check which names came back. Arrays are NCHW. A converter or run failure
    (including a crash) raises Pt2CaffeError.
    """
    return _run_worker("mnn", prototxt, caffemodel, inputs, blobs)


def run_onnxruntime(model: str, inputs: dict[str, np.ndarray], outputs: list[str] | None = None
                    ) -> dict[str, np.ndarray]:
    """Run an ONNX model in onnxruntime (CPU, one thread) in a child process: the named outputs (all when
    None) for float32 ``inputs`` by ONNX input name. ``check``'s independent reference for ONNX exports.
    Raises Pt2CaffeError (one line) when onnxruntime is missing or refuses the model or the inputs."""
    return _run_worker("onnxruntime", model, None, inputs, outputs)


def _join_path(first: str, rest: str | None) -> str:
    return first + os.pathsep + rest if rest else first


def worker_environment(engine: str) -> dict[str, str]:
    """The environment of a child process that runs ``engine``: ours, quiet glog, and for "caffe" the
    reference pycaffe first on PYTHONPATH. ``pt2caffe doctor`` imports caffe with it too."""
    env = dict(os.environ)
    if engine == "caffe":
        env["PYTHONPATH"] = _join_path(caffe_pythonpath(), os.environ.get("PYTHONPATH"))
    env.setdefault("GLOG_minloglevel", "2")  # quiet; FATAL lines are printed all the same
    return env


def _run_worker(engine: str, prototxt: str, caffemodel: str | None,
                inputs: dict[str, np.ndarray], blobs: list[str] | None) -> dict[str, np.ndarray]:
    """Write the request to a temp dir, run worker.py there, read its outputs back."""
    label = {"caffe": "Caffe", "opencv": "OpenCV", "mnn": "MNN", "onnxruntime": "onnxruntime"}[engine]
    for kind, path in ((("model" if engine == "onnxruntime" else "prototxt"), prototxt), ("caffemodel", caffemodel)):
        if path is not None and not os.path.isfile(path):
            raise Pt2CaffeError(f"{label}: {kind} not found: {path}")
    arrays = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in inputs.items()}
    request = {"prototxt": os.path.abspath(prototxt),
               "caffemodel": os.path.abspath(caffemodel) if caffemodel else None,
               "blobs": list(blobs) if blobs is not None else None}
    env = worker_environment(engine)
    with tempfile.TemporaryDirectory(prefix="pt2caffe-run-") as tmp:
        paths = [os.path.join(tmp, name) for name in ("request.json", "inputs.npz", "out.npz")]
        with open(paths[0], "w") as f:
            json.dump(request, f)
        worker.save_arrays(paths[1], arrays)
        command = [sys.executable, worker.__file__, engine, *paths]
        proc = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            raise _failure(label, prototxt, proc)
        return worker.load_arrays(paths[2])


def _failure(label: str, prototxt: str, proc: subprocess.CompletedProcess) -> Pt2CaffeError:
    """Turn a failed worker run into one error line (the stage that died and why)."""
    stderr = proc.stderr or ""
    stages = re.findall("^" + re.escape(worker.STAGE_PREFIX) + r"(\w+)", stderr, re.M)
    verb = "run" if stages and stages[-1] == "forward" else "load"
    reason = failure_reason(stderr) or _exit_description(proc.returncode)
    detail = stderr + (f"\n--- stdout ---\n{proc.stdout}" if proc.stdout else "")
    return Pt2CaffeError(f"{label} failed to {verb} {prototxt}: {reason}", detail=detail)


def failure_reason(log: str) -> str:
    """The one line that explains a failure in a Caffe/OpenCV log, or "" if none is found.

    Prefers protobuf's parse error (it names the bad field and line; Caffe's fatal line then
    only says the file did not parse), then the last glog fatal line ("F... file.cpp:N] msg"),
    then our worker's own error line, then a Python traceback's last line.
    """
    protobuf = re.findall(r"^\[libprotobuf (?:ERROR|FATAL) [^\]]*\] (.+)$", log, re.M)
    if protobuf:
        return _tidy(protobuf[-1])
    fatal = re.findall(r"^F\d{4,8} [\d:.]+ +\d+ [^\]]*\] (.+)$", log, re.M)
    if fatal:
        return _tidy(fatal[-1])
    ours = re.findall("^" + re.escape(worker.ERROR_PREFIX) + "(.+)$", log, re.M)
    if ours:
        return _tidy(ours[-1])
    if "Traceback (most recent call last)" in log:
        lines = [line for line in log.splitlines() if line.strip()]
        return _tidy(lines[-1])
    return ""


def _tidy(message: str) -> str:
    """Shorten a message to what a user needs: drop Caffe's list of known layer types, the
    "Check failed: a == b (0 vs. 1)" part when an explanation follows it, and OpenCV's
    "OpenCV(4.x) /path/file.cpp:N: error: (-2:Unspecified error)" preamble."""
    message = re.sub(r" \(known types: [^)]*\)", "", message)
    check = re.match(r"Check failed: .* \((\S+) vs\. (\S+)\) (?=\S)", message)
    if check:  # keep the values unless they are just a failed boolean test
        values = "" if {check[1], check[2]} <= {"0", "1"} else f" ({check[1]} vs. {check[2]})"
        message = message[check.end():] + values
    message = re.sub(r"^(?:error: )?OpenCV\([^)]*\) \S+: error: \([^)]*\) ", "", message)
    return " ".join(message.split())


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"
