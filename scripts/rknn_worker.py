"""The child side of ``check --backend rknn``: run one Caffe net (or ONNX model) in rknn-toolkit2's PC
simulator. Runs under the RKNN environment's own Python (scripts/install_rknn.sh), so it imports nothing of
pt2caffe: numpy and rknn only.

    python rknn_worker.py REQUEST.json INPUTS.npz OUTPUTS.npz

REQUEST.json: {"caffe": [prototxt, caffemodel]} or {"onnx": model.onnx}, "inputs": [names in order],
"platform" (default rk3588). INPUTS.npz holds one array per input name (NCHW). OUTPUTS.npz gets out0, out1,
… in the net's output order. The simulator computes in float16 (no quantisation); NCHW inputs need
``data_format="nchw"`` (its default is NHWC).
"""
import json
import sys


def main(request_path: str, inputs_path: str, outputs_path: str) -> int:
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
                print(f"rknn: {step} failed", file=sys.stderr)
                return 3
        outputs = rknn.inference(inputs=inputs, data_format=["nchw"] * len(inputs))
        if outputs is None:
            print("rknn: inference failed", file=sys.stderr)
            return 3
        np.savez(outputs_path, **{f"out{i}": np.asarray(array) for i, array in enumerate(outputs)})
        return 0
    finally:
        rknn.release()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
