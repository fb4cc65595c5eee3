"""The Caffe side of ``check``: every requested blob from the backend, and when the net does not load,
the blobs before the layer it dies on (found by bisection over prefixes of the net)."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from google.protobuf import text_format

from ..console import Progress
from ..errors import Pt2CaffeError
from ..runtimes.backends import run_net
from .subject import CaffeNet, Subject


def _prefix_prototxt(net: CaffeNet, count: int, directory: str) -> str:
    """The net cut after its first ``count`` layers, written into ``directory``."""
    from ..net import caffe_pb2

    cut = caffe_pb2.NetParameter()
    cut.CopyFrom(net.proto)
    del cut.layer[count:]
    path = os.path.join(directory, f"prefix{count}.prototxt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text_format.MessageToString(cut))
    return path


@dataclass
class CaffeRun:
    blobs: dict  # blob name → array
    crash: str | None = None  # "Caffe cannot set up layer 'x' (Type): reason", when the net did not load
    crash_layer: str | None = None


def run_caffe(subject: Subject, net: CaffeNet, feeds: dict, blobs: list[str], backend: str,
              docker_image: str, progress: Progress) -> CaffeRun:
    """Every requested blob; if the net does not load, the blobs before the layer it dies on."""
    progress.step(f"running Caffe ({backend}) on {os.path.basename(subject.prototxt)}")
    try:
        return CaffeRun(run_net(backend, subject.prototxt, subject.caffemodel, feeds, blobs,
                                docker_image=docker_image))
    except Pt2CaffeError as error:
        known = known_refusals(subject.report, backend)
        try:
            run = _run_before_crash(subject, net, feeds, blobs, backend, docker_image, error, progress)
        except Pt2CaffeError as failure:
            raise Pt2CaffeError(f"{failure}{known}", detail=failure.detail) from None
        return CaffeRun(run.blobs, run.crash + known, run.crash_layer)


def known_refusals(report: dict | None, backend: str) -> str:
    """What the report's lint (NAME.json "lint", pt2caffe.net.targets) already lists as breaking ``backend``'s
    rules, as a clause for the failure line ("" when nothing): a listed exception, not a new fault."""
    listed = [entry for entry in (report or {}).get("lint") or [] if str(entry.get("rule", "")).startswith(f"{backend}.")]
    if not listed:
        return ""
    first = listed[0]
    more = f" and {len(listed) - 1} more" if len(listed) > 1 else ""
    return (f" (a listed exception: the export's lint says layer '{first['layer']}' ({first['type']}){more} breaks "
            f"{backend}'s rule {first['rule']}: {first['text']}; {first['source']})")


def _run_before_crash(subject, net, feeds, blobs, backend, docker_image, error, progress) -> CaffeRun:
    """Bisect for the shortest prefix of the net that fails; run the longest one that works.

    Caffe sets layers up in order, so "the first k layers run" is monotone in k. If even the
    inputs alone fail, the problem is the files or the inputs, not a layer: the error stands.
    """
    def attempt(count: int):
        wanted = [blob for blob in blobs if blob in tops_before[count]]
        try:
            return run_net(backend, _prefix_prototxt(net, count, tmp), subject.caffemodel, feeds, wanted,
                           docker_image=docker_image), None
        except Pt2CaffeError as failure:
            return None, failure

    layers = list(net.proto.layer)
    first_real = next((i for i, layer in enumerate(layers) if layer.type != "Input"), len(layers))
    tops_before = [set()]
    for layer in layers:
        tops_before.append(tops_before[-1] | set(layer.top))
    with tempfile.TemporaryDirectory(prefix="pt2caffe-prefix-") as tmp:
        good, bad, last_failure = first_real, len(layers), error
        best, failure = attempt(good)
        if failure is not None:
            raise error
        while bad - good > 1:
            progress.step(f"Caffe cannot load the net; looking for the layer ({good}..{bad} of {len(layers)})")
            middle = (good + bad) // 2
            outputs, failure = attempt(middle)
            if failure is None:
                good, best = middle, outputs
            else:
                bad, last_failure = middle, failure
    layer = layers[bad - 1]
    reason = str(last_failure).split(": ", 1)[-1]
    engine = {"opencv": "OpenCV", "mnn": "MNN"}.get(backend, "Caffe")
    return CaffeRun(best, f"{engine} cannot set up layer '{layer.name}' ({layer.type}): {reason}", layer.name)
