"""Child-process side of pt2caffe.runtimes.launch: load a net in pycaffe, OpenCV or MNN (or an ONNX model in
onnxruntime, check's reference for ONNX exports), run it, save blobs.

Runs in its own process because Caffe aborts the whole process (SIGABRT) on an unknown layer
type or field. It imports only numpy and the engine (never torch or the rest of pt2caffe), and
talks to the parent through files:

    python worker.py caffe|opencv|mnn|onnxruntime REQUEST.json INPUTS.npz OUTPUT.npz

REQUEST.json holds {"prototxt", "caffemodel" (or null), "blobs" (list or null)}; for onnxruntime
"prototxt" is the .onnx file and "blobs" the output names. In both .npz
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


def _probed_prototxt(prototxt, names):
    """A copy of the net in which every named blob is the first top of the layer that writes it
    last, and {blob name: (layer name, top index)} of where to read each one.

    OpenCV addresses outputs by layer, and when several layers are asked for at once it reuses
    the memory of a layer's second top (a Slice part) for a later layer (measured: a Sigmoid
    reading chunk/1 overwrote it). So a blob that is not a first top gets an identity Power
    probe right after its writer, read instead. Our caffe_pb2 is loaded by file path:
    importing the pt2caffe package would import torch.
    """
    import importlib.util

    from google.protobuf import text_format

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("pt2caffe_worker_caffe_pb2",
                                                  os.path.join(package, "net", "caffe_pb2.py"))
    caffe_pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(caffe_pb2)
    with open(prototxt) as f:
        net = text_format.Parse(f.read(), caffe_pb2.NetParameter())
    owners = {top: (layer.name, index) for layer in net.layer for index, top in enumerate(layer.top)}
    probes = {name: owners[name][0] for name in names if name in owners and owners[name][1] > 0}
    if not probes:
        return prototxt, owners
    layers = list(net.layer)
    del net.layer[:]
    for layer in layers:
        net.layer.add().CopyFrom(layer)
        for name, writer in probes.items():
            if writer == layer.name:
                probe = name + "/pt2caffe_probe"
                net.layer.add(name=probe, type="Power", bottom=[name], top=[probe])
                owners[name] = (probe, 0)
    path = os.path.abspath("probed.prototxt")  # the worker runs in its own temporary directory
    with open(path, "w") as f:
        f.write(text_format.MessageToString(net))
    return path, owners


def run_opencv(prototxt, caffemodel, inputs, blobs):
    """OpenCV's Caffe importer: setInput per input, forward the named (or output) blobs."""
    _stage("load")
    import cv2

    owners = None
    if blobs is not None:
        prototxt, owners = _probed_prototxt(prototxt, blobs)
    net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel) if caffemodel else \
        cv2.dnn.readNetFromCaffe(prototxt)
    # OpenCV's layer fusion hides intermediate blobs and has miscomputed chains (a Power after
    # a Power with power != 1; layers feeding a multi-bottom Silence): compare unfused layers.
    net.enableFusion(False)
    for name, array in inputs.items():
        net.setInput(array, name)
    names = list(net.getUnconnectedOutLayersNames()) if blobs is None else list(blobs)
    if owners is None:
        owners = {name: (name, 0) for name in names}
    _stage("forward")
    missing = [name for name in names if name not in owners or net.getLayerId(owners[name][0]) < 0]
    if missing:
        raise ValueError("no blob %s in the net" % ", ".join(missing))
    layers = sorted({owners[name][0] for name in names})
    retrieved = dict(zip(layers, net.forwardAndRetrieve(layers)))
    return {name: retrieved[owners[name][0]][owners[name][1]].copy() for name in names}


def run_mnn(prototxt, caffemodel, inputs, blobs):
    """MNN: convert with its Caffe converter into the working directory, run with its expr API.

    The converter is MNN's C++ module ``_tools`` called directly: ``MNN.tools`` must not be
    imported, its wrapper runs ``pip install -U aliyun-log-python-sdk`` and sends usage data.
    ``blobs`` None returns the session outputs (what MNN lists as the model's outputs); a list
    returns those of the named blobs that MNN's converted graph still holds (it fuses layers,
    e.g. a Convolution's BatchNorm/Scale/ReLU, and drops their blobs), leaving the rest out.
    """
    _stage("load")
    import _tools
    import MNN

    if not caffemodel:
        raise ValueError("MNN's Caffe converter needs a caffemodel")
    model = os.path.abspath("net.mnn")
    converted = _tools.mnnconvert(["mnnconvert", "-f", "CAFFE", "--modelFile", caffemodel, "--prototxt",
                                   prototxt, "--MNNModel", model, "--bizCode", "pt2caffe"])
    if not converted or not os.path.isfile(model):
        raise ValueError("MNN's Caffe converter failed (see its log)")
    expr = MNN.expr
    held = expr.load_as_dict(model)
    interpreter = MNN.Interpreter(model)
    outputs = list(interpreter.getSessionOutputAll(interpreter.createSession({"precision": "high"})))
    names = outputs if blobs is None else [name for name in blobs if name in held and name not in inputs]
    _stage("forward")
    unknown = [name for name in inputs if name not in held]
    if unknown:
        raise ValueError("no input blob %s in the net" % ", ".join(unknown))
    module = MNN.nn.load_module_from_file(model, list(inputs), names, precision_mode=expr.PrecisionMode.High)
    feeds = [expr.convert(expr.const(array, list(array.shape), expr.NCHW), held[name].data_format)
             for name, array in inputs.items()]
    results = module.forward(feeds)
    if len(results) != len(names):  # MNN prints "code=N in onForward" and returns nothing
        raise ValueError("MNN's forward failed (no outputs; its log above says why)")
    return {name: _mnn_array(expr, var) for name, var in zip(names, results)}


def run_onnxruntime(model, _caffemodel, inputs, outputs):
    """onnxruntime's CPU provider, one thread: the named outputs (every graph output when None)."""
    _stage("load")
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("onnxruntime is not installed: pip install 'pt2caffe[onnx]'") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    _stage("forward")
    names = outputs if outputs is not None else [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


def _mnn_array(expr, var):
    """An MNN variable's values as an NCHW numpy array (MNN keeps 4-D blobs as NC4HW4)."""
    import numpy as np

    if var.data_format == expr.NC4HW4:
        var = expr.convert(var, expr.NCHW)
    return np.array(var.read(), dtype=np.float32).reshape(var.shape)


def main(argv):
    engine, request_path, inputs_path, output_path = argv
    with open(request_path) as f:
        request = json.load(f)
    inputs = load_arrays(inputs_path)
    run = {"caffe": run_caffe, "opencv": run_opencv, "mnn": run_mnn, "onnxruntime": run_onnxruntime}[engine]
    try:
        result = run(request["prototxt"], request["caffemodel"], inputs, request["blobs"])
    except Exception as exc:  # reported as one line; the parent turns it into Pt2CaffeError
        message = " ".join(str(exc).split()) or type(exc).__name__
        sys.stderr.write("%s%s: %s\n" % (ERROR_PREFIX, type(exc).__name__, message))
        return 3
    save_arrays(output_path, result)
    return 0


if __name__ == "__main__":
    # Run as a file, sys.path[0] is the pt2caffe.runtimes directory: drop it so that nothing in
    # the package shadows `caffe` or `cv2`.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv[1:]))
