"""The Caffe side of ``pt2caffe check``: run a net in pycaffe, OpenCV, MNN or Docker, get blobs by name.

- ``pycaffe``: the reference build, via :func:`pt2caffe.runtimes.launch.run_pycaffe` (a child
  process).
- ``opencv``: ``cv2.dnn`` via :func:`pt2caffe.runtimes.launch.run_opencv`, which finds each blob's
  last writer itself (:mod:`pt2caffe.runtimes.opencv`: a net whose DetectionOutput has
  ``keep_top_k: -1`` is refused: OpenCV crashes on it); OpenCV folds Input layers away, so an input
  blob that is asked for is read through an identity ``Power`` probe added to a copy of the prototxt.
- ``mnn``: MNN's Caffe converter and CPU runtime via :func:`pt2caffe.runtimes.launch.run_mnn`. MNN fuses
  layers while converting (a Convolution absorbs its BatchNorm, Scale and ReLU), so only the
  blobs its converted graph still holds come back; check reports the others as "not kept".
- ``docker``: the same ``run_pycaffe`` inside the project's image (:mod:`pt2caffe.runtimes.docker`).
- ``rknn``: Rockchip's RKNN simulator (rknn-toolkit2 2.5.0, float16) in its own environment
  (:mod:`pt2caffe.runtimes.rknn`); only the net's outputs come back.
"""
from __future__ import annotations

import numpy as np

from ..errors import Pt2CaffeError
from .docker import DEFAULT_IMAGE, run_docker
from .launch import run_mnn, run_pycaffe
from .opencv import run_opencv_blobs
from .reference_caffe import caffe_home
from .rknn import run_rknn

BACKENDS = ("pycaffe", "opencv", "mnn", "docker", "rknn")


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
    """The named blobs after one forward pass on ``inputs``, keyed by blob name (for "mnn", those it kept; for
    "rknn", the net's outputs among them)."""
    if backend == "pycaffe":
        return run_pycaffe(prototxt, caffemodel, inputs, blobs)
    if backend == "opencv":
        return run_opencv_blobs(prototxt, caffemodel, inputs, blobs)
    if backend == "mnn":
        return run_mnn(prototxt, caffemodel, inputs, blobs)
    if backend == "docker":
        return run_docker(prototxt, caffemodel, inputs, blobs, image=docker_image)
    if backend == "rknn":
        return run_rknn(prototxt, caffemodel, inputs, blobs)
    raise Pt2CaffeError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
