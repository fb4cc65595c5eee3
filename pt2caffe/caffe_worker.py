"""Child-process side of pt2caffe.runtime: load a net in pycaffe or OpenCV, run it, save blobs.

Runs in its own process because Caffe aborts the whole process (SIGABRT) on an unknown layer
type or field. It imports only numpy and the engine (never torch or the rest of pt2caffe), and
talks to the parent through files:

    python caffe_worker.py caffe|opencv REQUEST.json INPUTS.npz OUTPUT.npz

REQUEST.json holds {"prototxt", "caffemodel" (or null), "blobs" (list or null)}. In both .npz
files arrays are stored as a0, a1, ... with their real names (which may contain '/') in the
string array "names". Before loading and before running, a stage line is written to stderr so
that the parent can tell which step died; errors of our own are one line starting with
``ERROR_PREFIX``.
"""

import json
import os
import sys

STAGE_PREFIX = "##pt2caffe-stage "
ERROR_PREFIX = "##pt2caffe-error "


def _stage(name):
    sys.stderr.write(STAGE_PREFIX + name + "\n")
    sys.stderr.flush()


def load_arrays(path):
    """Read a names + a0, a1, ... .npz written by save_arrays into a dict (order kept)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        return {name: data["a%d" % i] for i, name in enumerate(names)}


def save_arrays(path, arrays):
    """Write a dict of arrays whose names may hold any character (see module docstring)."""
    import numpy as np

    names = list(arrays)
    payload = {"a%d" % i: np.asarray(arrays[n]) for i, n in enumerate(names)}
    np.savez(path, names=np.array(names, dtype=str), **payload)


def run_caffe(prototxt, caffemodel, inputs, blobs):
    """pycaffe: reshape the inputs to the given arrays, forward, return the requested blobs."""
    _stage("load")
    import caffe

    caffe.set_mode_cpu()
    if caffemodel:
        net = caffe.Net(prototxt, caffe.TEST, weights=caffemodel)
    else:
        net = caffe.Net(prototxt, caffe.TEST)
    _stage("forward")  # from here on, failures are about these inputs, not the net file
    unknown = [name for name in inputs if name not in net.inputs]
    if unknown:
        raise ValueError("no input blob %s in the net (inputs: %s)"
                       % (", ".join(unknown), ", ".join(net.inputs)))
    for name, array in inputs.items():
        net.blobs[name].reshape(*array.shape)
    net.reshape()
    for name, array in inputs.items():
        net.blobs[name].data[...] = array
    net.forward()
    names = list(net.blobs) if blobs is None else blobs
    missing = [name for name in names if name not in net.blobs]
    if missing:
        raise ValueError("no blob %s in the net" % ", ".join(missing))
    return {name: net.blobs[name].data.copy() for name in names}


def _top_owners(prototxt):
    """{blob name: (layer name, top index)} of the last layer writing each blob.

    OpenCV addresses outputs by layer, so a blob that is not a layer's first top (a Slice
    part) is fetched with forwardAndRetrieve. Our caffe_pb2 is loaded by file path: importing
    the pt2caffe package would import torch.
    """
    import importlib.util

    from google.protobuf import text_format

    spec = importlib.util.spec_from_file_location(
        "pt2caffe_worker_caffe_pb2", os.path.join(os.path.dirname(os.path.abspath(__file__)), "caffe_pb2.py"))
    caffe_pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(caffe_pb2)
    with open(prototxt) as f:
        net = text_format.Parse(f.read(), caffe_pb2.NetParameter())
    return {top: (layer.name, index) for layer in net.layer for index, top in enumerate(layer.top)}


def run_opencv(prototxt, caffemodel, inputs, blobs):
    """OpenCV's Caffe importer: setInput per input, forward the named (or output) blobs."""
    _stage("load")
    import cv2

    net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel) if caffemodel else \
        cv2.dnn.readNetFromCaffe(prototxt)
    # OpenCV's layer fusion hides intermediate blobs and has miscomputed chains (a Power after
    # a Power with power != 1; layers feeding a multi-bottom Silence): compare unfused layers.
    net.enableFusion(False)
    for name, array in inputs.items():
        net.setInput(array, name)
    if blobs is None:
        names = list(net.getUnconnectedOutLayersNames())
        owners = {name: (name, 0) for name in names}
    else:
        names, owners = list(blobs), _top_owners(prototxt)
    _stage("forward")
    missing = [name for name in names if name not in owners or net.getLayerId(owners[name][0]) < 0]
    if missing:
        raise ValueError("no blob %s in the net" % ", ".join(missing))
    layers = sorted({owners[name][0] for name in names})
    retrieved = dict(zip(layers, net.forwardAndRetrieve(layers)))
    return {name: retrieved[owners[name][0]][owners[name][1]].copy() for name in names}


def main(argv):
    engine, request_path, inputs_path, output_path = argv
    with open(request_path) as f:
        request = json.load(f)
    inputs = load_arrays(inputs_path)
    run = {"caffe": run_caffe, "opencv": run_opencv}[engine]
    try:
        result = run(request["prototxt"], request["caffemodel"], inputs, request["blobs"])
    except Exception as exc:  # reported as one line; the parent turns it into Pt2CaffeError
        message = " ".join(str(exc).split()) or type(exc).__name__
        sys.stderr.write("%s%s: %s\n" % (ERROR_PREFIX, type(exc).__name__, message))
        return 3
    save_arrays(output_path, result)
    return 0


if __name__ == "__main__":
    # Run as a file, sys.path[0] is the pt2caffe package directory: drop it so that nothing in
    # the package shadows `caffe` or `cv2`.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv[1:]))
