"""The Caffe side of ``pt2caffe check``: run a net in pycaffe, OpenCV, MNN or Docker, get blobs by name.

- ``pycaffe``: the reference build, via :func:`pt2caffe.runtime.run_pycaffe` (a child process).
- ``opencv``: ``cv2.dnn`` via :func:`pt2caffe.runtime.run_opencv`, which finds each blob's last
  writer itself (a net whose DetectionOutput has ``keep_top_k: -1`` is refused: OpenCV crashes
  on it); OpenCV folds Input layers away, so an input blob that is asked for is read
  through an identity ``Power`` probe added to a copy of the prototxt.
- ``mnn``: MNN's Caffe converter and CPU runtime via :func:`pt2caffe.runtime.run_mnn`. MNN fuses
  layers while converting (a Convolution absorbs its BatchNorm, Scale and ReLU), so only the
  blobs its converted graph still holds come back; check reports the others as "not kept".
- ``docker``: the same ``run_pycaffe`` inside the project's image. The container runs the hidden
  sub-command ``pt2caffe _caffe-worker REQUEST.json INPUTS.npz OUTPUT.npz`` (:func:`worker_main`),
  with the request and the net files mounted read-only and an output directory mounted
  writable; the command line is built by the pure function :func:`docker_command`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import numpy as np

from . import caffe_worker
from .errors import Pt2CaffeError
from .runtime import caffe_home, run_mnn, run_opencv, run_pycaffe

BACKENDS = ("pycaffe", "opencv", "mnn", "docker")
DEFAULT_IMAGE = "pt2caffe:latest"
MOUNT = "/pt2caffe"  # where the container sees the request (in/), the net (net/) and the output (out/)
WORKER_COMMAND = "_caffe-worker"
_IO_NAMES = ("request.json", "inputs.npz", "outputs.npz")


def default_backend() -> str:
    """pycaffe when the reference build is there, else OpenCV when cv2 imports."""
    try:
        caffe_home()
        return "pycaffe"
    except Pt2CaffeError as missing:
        try:
            import cv2  # noqa: F401
        except ImportError:
            raise Pt2CaffeError(f"no Caffe to run the net: {missing}; or pip install opencv-python-headless "
                                "(--backend opencv), or use --backend docker") from None
        return "opencv"


def run_net(backend: str, prototxt: str, caffemodel: str | None, inputs: dict[str, np.ndarray],
            blobs: list[str], *, docker_image: str = DEFAULT_IMAGE) -> dict[str, np.ndarray]:
    """The named blobs after one forward pass on ``inputs``, keyed by blob name (for "mnn", those it kept)."""
    if backend == "pycaffe":
        return run_pycaffe(prototxt, caffemodel, inputs, blobs)
    if backend == "opencv":
        return _run_opencv_blobs(prototxt, caffemodel, inputs, blobs)
    if backend == "mnn":
        return run_mnn(prototxt, caffemodel, inputs, blobs)
    if backend == "docker":
        return run_docker(prototxt, caffemodel, inputs, blobs, image=docker_image)
    raise Pt2CaffeError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


# --- OpenCV ---------------------------------------------------------------------------------

def _input_only_blobs(net) -> set[str]:
    """Blobs that no layer but an Input layer (or the legacy ``input`` field) writes."""
    written = {top for layer in net.layer if layer.type != "Input" for top in layer.top}
    declared = set(net.input) | {top for layer in net.layer if layer.type == "Input" for top in layer.top}
    return declared - written


def _run_opencv_blobs(prototxt: str, caffemodel: str | None, inputs: dict[str, np.ndarray],
                      blobs: list[str]) -> dict[str, np.ndarray]:
    """OpenCV folds Input layers away: an input blob asked for is read through an identity Power probe.

    With no blob asked for, the first input is probed all the same, so that the net is still
    loaded and run (OpenCV refuses to run a net for no output).
    """
    from google.protobuf import text_format

    from .serialize import read_prototxt

    net = read_prototxt(prototxt)
    uncut = [layer.name for layer in net.layer
             if layer.type == "DetectionOutput" and layer.detection_output_param.keep_top_k < 0]
    if uncut:  # OpenCV 4.14 returns one row and then corrupts the heap: refuse before it crashes
        raise Pt2CaffeError(f"OpenCV cannot run DetectionOutput '{uncut[0]}' with keep_top_k -1 in {prototxt}: "
                            "set keep_top_k to top_k × classes (the same detections) or export it again")
    wanted = list(blobs) or list(inputs)[:1]
    unreachable = _input_only_blobs(net)
    probes = {blob: f"{blob}/pt2caffe_probe" for blob in wanted if blob in unreachable}
    for blob, probe in probes.items():
        net.layer.add(name=probe, type="Power", bottom=[blob], top=[probe])
    addresses = {blob: probes.get(blob, blob) for blob in wanted}
    with tempfile.TemporaryDirectory(prefix="pt2caffe-opencv-") as tmp:
        probed = os.path.join(tmp, os.path.basename(prototxt))
        with open(probed, "w", encoding="utf-8") as handle:
            handle.write(text_format.MessageToString(net))
        try:
            outputs = run_opencv(probed, caffemodel, inputs, list(addresses.values()))
        except Pt2CaffeError as error:
            raise Pt2CaffeError(str(error).replace(probed, prototxt), error.detail) from None
    return {blob: outputs[addresses[blob]] for blob in blobs}


# --- Docker ---------------------------------------------------------------------------------

def _bind(source: str, target: str, *, read_only: bool) -> list[str]:
    """A bind mount; --mount (not -v) so that a missing source is an error, not a new directory."""
    if "," in source:
        raise Pt2CaffeError(f"docker: cannot mount a path with a comma: {source}")
    return ["--mount", f"type=bind,source={source},target={target}" + (",readonly" if read_only else "")]


def docker_command(image: str, prototxt: str, caffemodel: str | None, iodir: str,
                   user: str | None = None) -> list[str]:
    """The ``docker run`` command line that runs the worker on the files in ``iodir``/in.

    ``iodir`` holds ``in/`` (request and inputs, read-only in the container) and ``out/``
    (writable, for the outputs). The net files are mounted read-only under their own names.
    No network; ``user`` (uid:gid) makes the output files the caller's.
    """
    command = ["docker", "run", "--rm", "--network", "none"]
    if user:
        command += ["--user", user]
    command += _bind(os.path.abspath(os.path.join(iodir, "in")), f"{MOUNT}/in", read_only=True)
    for path in filter(None, (prototxt, caffemodel)):
        command += _bind(os.path.abspath(path), container_net_path(path), read_only=True)
    command += _bind(os.path.abspath(os.path.join(iodir, "out")), f"{MOUNT}/out", read_only=False)
    request, inputs, outputs = _IO_NAMES
    return command + ["--entrypoint", "pt2caffe", image, "--verbose", WORKER_COMMAND,
                      f"{MOUNT}/in/{request}", f"{MOUNT}/in/{inputs}", f"{MOUNT}/out/{outputs}"]


def container_net_path(path: str) -> str:
    return f"{MOUNT}/net/{os.path.basename(path)}"


def _current_user() -> str | None:
    return f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None


def run_docker(prototxt: str, caffemodel: str | None, inputs: dict[str, np.ndarray], blobs: list[str],
               *, image: str = DEFAULT_IMAGE) -> dict[str, np.ndarray]:
    """Run the net in pycaffe inside ``image`` (see module docstring); errors as one line."""
    for kind, path in (("prototxt", prototxt), ("caffemodel", caffemodel)):
        if path is not None and not os.path.isfile(path):
            raise Pt2CaffeError(f"Caffe: {kind} not found: {path}")
    if caffemodel and os.path.basename(caffemodel) == os.path.basename(prototxt):
        raise Pt2CaffeError("docker: the prototxt and the caffemodel need different file names")
    with tempfile.TemporaryDirectory(prefix="pt2caffe-docker-") as iodir:
        os.mkdir(os.path.join(iodir, "in"))
        os.mkdir(os.path.join(iodir, "out"))
        request = {"prototxt": container_net_path(prototxt),
                   "caffemodel": container_net_path(caffemodel) if caffemodel else None, "blobs": list(blobs)}
        write_request(os.path.join(iodir, "in"), request, inputs)
        command = docker_command(image, prototxt, caffemodel, iodir, _current_user())
        try:
            proc = subprocess.run(command, capture_output=True, text=True, errors="replace")
        except FileNotFoundError:
            raise Pt2CaffeError("docker not found: install Docker, or use --backend pycaffe or opencv") from None
        if proc.returncode != 0:
            raise _docker_failure(proc, image, {container_net_path(p): p for p in (prototxt, caffemodel) if p})
        return caffe_worker.load_arrays(os.path.join(iodir, "out", _IO_NAMES[2]))


def write_request(directory: str, request: dict, inputs: dict[str, np.ndarray]) -> None:
    """REQUEST.json and INPUTS.npz as the worker reads them."""
    with open(os.path.join(directory, _IO_NAMES[0]), "w", encoding="utf-8") as handle:
        json.dump(request, handle)
    arrays = {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in inputs.items()}
    caffe_worker.save_arrays(os.path.join(directory, _IO_NAMES[1]), arrays)


def _docker_failure(proc: subprocess.CompletedProcess, image: str, host_paths: dict[str, str]) -> Pt2CaffeError:
    """The worker's own error line (container paths shown as the user's), else Docker's."""
    stderr = proc.stderr or ""
    ours = re.findall(r"^pt2caffe: error: (.+)$", stderr, re.M)
    if ours:
        message = ours[-1]
        for inside, outside in host_paths.items():
            message = message.replace(inside, outside)
        return Pt2CaffeError(message, detail=stderr)
    docker_errors = re.findall(r"^docker: (.+)$", stderr, re.M)  # the CLI's own error lines
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reason = (docker_errors or lines or [f"exited with code {proc.returncode}"])[-1]
    hint = f" (build it with `bash scripts/docker_build.sh --tag {image}`)" if "Unable to find image" in stderr else ""
    return Pt2CaffeError(f"docker failed to run the Caffe worker in {image}: {reason}{hint}", detail=stderr)


def worker_main(args) -> int:
    """``pt2caffe _caffe-worker``: what runs inside the container, the pycaffe backend's code path."""
    with open(args.request, encoding="utf-8") as handle:
        request = json.load(handle)
    outputs = run_pycaffe(request["prototxt"], request["caffemodel"], caffe_worker.load_arrays(args.inputs),
                          request["blobs"])
    caffe_worker.save_arrays(args.outputs, outputs)
    return 0
