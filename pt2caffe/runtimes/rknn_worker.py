"""Child side of pt2caffe.runtimes.rknn: run one Caffe net (or ONNX model) in Rockchip's rknn-toolkit2 PC
simulator. Runs under the RKNN environment's own Python (scripts/install_rknn.sh), so it imports nothing of
pt2caffe: numpy and rknn only.

    python rknn_worker.py REQUEST.json INPUTS.npz OUTPUTS.npz

REQUEST.json: {"caffe": [prototxt, caffemodel]} or {"onnx": model.onnx}, "inputs": [names in the net's input
order], "platform" (default rk3588). INPUTS.npz holds one array per input name (NCHW). OUTPUTS.npz gets
out0, out1, … in RKNN's output order and "names", the graph's output names after building (the blob names:
rknn-toolkit2 2.5.0 keeps them in its graph, ``rknn_base.ir``). The simulator computes in float16 (no
quantisation); NCHW inputs need ``data_format="nchw"`` (its default is NHWC). A failing step prints
"rknn: STEP failed" and exits 3.
"""
import json
import sys


def _output_names(rknn):
    """The built graph's output names (rknn-toolkit2 2.5.0's internal graph; [] if another version hides it)."""
    try:
        return [output.name for output in rknn.rknn_base.ir.model.graph.output]
    except AttributeError:
        return []


def main(request_path, inputs_path, outputs_path):
    import numpy as np
    from rknn.api import RKNN

    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    arrays = np.load(inputs_path)
    inputs = [np.ascontiguousarray(arrays[name], dtype=np.float32) for name in request["inputs"]]
    rknn = RKNN(verbose=False)
    try:
        rknn.config(target_platform=request.get("platform", "rk3588"))
        if "caffe" in request:
            prototxt, caffemodel = request["caffe"]
            status = rknn.load_caffe(model=prototxt, blobs=caffemodel)
        else:
            status = rknn.load_onnx(model=request["onnx"])
        steps = [("load", lambda: status), ("build", lambda: rknn.build(do_quantization=False)),
                 ("init_runtime", rknn.init_runtime)]
        for step, call in steps:
            if call() != 0:
                print("rknn: %s failed" % step, file=sys.stderr)
                return 3
        names = _output_names(rknn)  # after build: its optimiser drops outputs that were only Crop references
        outputs = rknn.inference(inputs=inputs, data_format=["nchw"] * len(inputs))
        if outputs is None:
            print("rknn: inference failed", file=sys.stderr)
            return 3
        payload = {"out%d" % i: np.asarray(array) for i, array in enumerate(outputs)}
        np.savez(outputs_path, names=np.array(names if len(names) == len(outputs) else [], dtype=str), **payload)
        return 0
    finally:
        rknn.release()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
