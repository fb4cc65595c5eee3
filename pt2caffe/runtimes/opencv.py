"""OpenCV as a ``check`` backend: blobs by name, input blobs read through identity probes, and the
DetectionOutput form that crashes OpenCV refused before it runs."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import Pt2CaffeError
from .launch import run_opencv


def _input_only_blobs(net) -> set[str]:
    """Blobs that no layer but an Input layer (or the legacy ``input`` field) writes."""
    written = {top for layer in net.layer if layer.type != "Input" for top in layer.top}
    declared = set(net.input) | {top for layer in net.layer if layer.type == "Input" for top in layer.top}
    return declared - written


def run_opencv_blobs(prototxt: str, caffemodel: str | None, inputs: dict[str, np.ndarray],
                      blobs: list[str]) -> dict[str, np.ndarray]:
    """OpenCV folds Input layers away: an input blob asked for is read through an identity Power probe.

    With no blob asked for, the first input is probed all the same, so that the net is still
    loaded and run (OpenCV refuses to run a net for no output).
    """
    from google.protobuf import text_format

    from ..net.proto import read_prototxt

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
