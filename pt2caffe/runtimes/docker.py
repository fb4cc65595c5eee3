"""Docker as a ``check`` backend: the reference pycaffe inside the project's image.

The container runs the hidden sub-command ``pt2caffe _caffe-worker REQUEST.json INPUTS.npz OUTPUT.npz``
(:func:`worker_main`), with the request and the net files mounted read-only and an output directory
mounted writable; the command line is built by the pure function :func:`docker_command`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import numpy as np

from ..errors import Pt2CaffeError
from . import worker
from .launch import run_pycaffe

DEFAULT_IMAGE = "pt2caffe:latest"  # what scripts/docker_build.sh builds (and the test suite, for the same name)
MOUNT = "/pt2caffe"  # where the container sees the request (in/), the net (net/) and the output (out/)
WORKER_COMMAND = "_caffe-worker"
_IO_NAMES = ("request.json", "inputs.npz", "outputs.npz")


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
    No network, and no pull (an image missing here is reported as such, no registry is asked); ``user``
    (uid:gid) makes the output files the caller's.
    """
    command = ["docker", "run", "--rm", "--pull", "never", "--network", "none"]
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
        return worker.load_arrays(os.path.join(iodir, "out", _IO_NAMES[2]))


def write_request(directory: str, request: dict, inputs: dict[str, np.ndarray]) -> None:
    """REQUEST.json and INPUTS.npz as the worker reads them."""
    with open(os.path.join(directory, _IO_NAMES[0]), "w", encoding="utf-8") as handle:
        json.dump(request, handle)
    arrays = {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in inputs.items()}
    worker.save_arrays(os.path.join(directory, _IO_NAMES[1]), arrays)


def _docker_failure(proc: subprocess.CompletedProcess, image: str, host_paths: dict[str, str]) -> Pt2CaffeError:
    """The worker's own error line (container paths shown as the user's), else Docker's."""
    stderr = proc.stderr or ""
    ours = re.findall(r"^pt2caffe: error: (.+)$", stderr, re.M)
    if ours:
        message = ours[-1]
        for inside, outside in host_paths.items():
            message = message.replace(inside, outside)
        return Pt2CaffeError(message, detail=stderr)
    if re.search(r"No such image|Unable to find image", stderr):
        tag = "" if image == DEFAULT_IMAGE else f" --tag {image}"
        return Pt2CaffeError(f"docker image {image} is not on this machine: build it with "
                             f"`bash scripts/docker_build.sh{tag}`", detail=stderr)
    docker_errors = re.findall(r"^docker: (.+)$", stderr, re.M)  # the CLI's own error lines
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reason = (docker_errors or lines or [f"exited with code {proc.returncode}"])[-1]
    return Pt2CaffeError(f"docker failed to run the Caffe worker in {image}: {reason}", detail=stderr)


def worker_main(args) -> int:
    """``pt2caffe _caffe-worker``: what runs inside the container, the pycaffe backend's code path."""
    with open(args.request, encoding="utf-8") as handle:
        request = json.load(handle)
    outputs = run_pycaffe(request["prototxt"], request["caffemodel"], worker.load_arrays(args.inputs),
                          request["blobs"])
    worker.save_arrays(args.outputs, outputs)
    return 0
