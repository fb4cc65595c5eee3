"""Write small PaddleOCR / PaddleDetection-style models as ONNX files through paddle2onnx.

The models (backbones.py, ocr.py, picodet.py) are built in code, laid out as the PaddleOCR and PaddleDetection repositories define
them (module structure, kernel/stride/padding patterns, activations, heads) with reduced widths, and
filled with deterministic seeded weights (no download). Each is saved as a Paddle inference model
(`paddle.jit.save`) and converted by the `paddle2onnx` command, as a user would convert a PaddleOCR
inference model. A manifest records the versions, the opset, the input shape, the file digest, the
op types and the largest difference between Paddle's own output and onnxruntime's on a fixed input.

Run it in its own virtual environment (paddle is never a dependency of pt2caffe):

    python3 -m venv /tmp/paddle-venv
    /tmp/paddle-venv/bin/pip install -r scripts/paddle_onnx/requirements.txt
    /tmp/paddle-venv/bin/python scripts/paddle_onnx/make.py tests/data/paddle [NAME ...]

paddle2onnx switches on Polygraphy's automatic pip installs (POLYGRAPHY_AUTOINSTALL_DEPS=1, with an
extra package index for onnx_graphsurgeon); this script runs it with PIP_NO_INDEX=1 so that nothing
is installed behind the user's back: the requirements file lists what Polygraphy's constant folding
needs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata

import numpy as np
import paddle
import paddle.nn as nn

from backbones import MobileNetV3Det, ResNetVd
from ocr import CRNNRecognizer, DBDetector, DirectionClassifier, SVTRRecognizer
from picodet import PicoDetLite


def randomize(model: nn.Layer, seed: int) -> nn.Layer:
    """Deterministic weights from NumPy's PCG64: conv/linear N(0, 1/fan_in), biases N(0, 0.05²),
    BatchNorm mean N(0, 0.1²), variance U(0.5, 2), scale U(0.5, 1.5), shift N(0, 0.1²), LayerNorm
    like BatchNorm's affine part, LSTM U(±1/√hidden); a layer's `logit_gain` scales its weights."""
    rng = np.random.default_rng(seed)
    for layer in model.sublayers(include_self=True):
        for name, p in layer.named_parameters(include_sublayers=False):
            shape = p.shape
            if isinstance(layer, (nn.BatchNorm2D, nn.BatchNorm, nn.LayerNorm)):
                v = rng.uniform(0.5, 1.5, shape) if name == "weight" else rng.normal(0, 0.1, shape)
            elif isinstance(layer, nn.LSTM) or layer.__class__.__name__.endswith("Cell"):
                bound = 1.0 / np.sqrt(layer.hidden_size)
                v = rng.uniform(-bound, bound, shape)
            elif len(shape) >= 2:
                fan_in = np.prod(shape[1:]) if not isinstance(layer, nn.Linear) else shape[0]
                if isinstance(layer, nn.Conv2DTranspose):
                    fan_in = shape[0] * np.prod(shape[2:]) / np.prod(layer._stride)
                v = rng.normal(0, 1 / np.sqrt(fan_in), shape)
            else:
                v = rng.normal(0, 0.05, shape)
            p.set_value(v.astype("float32"))
        if isinstance(layer, (nn.BatchNorm2D, nn.BatchNorm)):
            layer._mean.set_value(rng.normal(0, 0.1, layer._mean.shape).astype("float32"))
            layer._variance.set_value(rng.uniform(0.5, 2.0, layer._variance.shape).astype("float32"))
        if hasattr(layer, "logit_gain"):  # a trained classifier's logits spread further than N(0, 1/fan_in) gives
            layer.weight.set_value(layer.weight.numpy() * layer.logit_gain)
    model.eval()
    return model


def paddle2onnx_command(model_dir: str, save_file: str, opset: int, folding: bool) -> list[str]:
    """The `paddle2onnx` command a user runs on a PaddleOCR inference model (folding: its default
    Polygraphy constant folding; without: `--optimize_tool None`, the raw export)."""
    exe = os.path.join(os.path.dirname(sys.executable), "paddle2onnx")
    cmd = [exe, "--model_dir", model_dir, "--model_filename", "inference.json",
           "--params_filename", "inference.pdiparams", "--save_file", save_file,
           "--opset_version", str(opset), "--enable_onnx_checker", "True"]
    return cmd + ([] if folding else ["--optimize_tool", "None"])


def export(model, shape, path, opset, folding) -> str:
    """paddle.jit.save (input `x`, −1 for a dynamic dimension) + the paddle2onnx command, with pip's
    package index blocked while it runs. Returns its log; exits naming the file when it fails."""
    spec = [paddle.static.InputSpec(shape, "float32", "x")]
    with tempfile.TemporaryDirectory() as tmp:
        paddle.jit.save(model, os.path.join(tmp, "inference"), input_spec=spec)
        env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS="", PIP_EXTRA_INDEX_URL="")
        run = subprocess.run(paddle2onnx_command(tmp, path, opset, folding), env=env,
                             capture_output=True, text=True)
    log = run.stdout + run.stderr
    if run.returncode != 0 or not os.path.exists(path):
        raise SystemExit(f"paddle2onnx failed for {path}:\n{log}")
    return log


def op_types(path):
    """{op_type: count} and {domain: opset} of an ONNX file."""
    import onnx

    model = onnx.load(path)
    counts = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items())), {o.domain or "ai.onnx": o.version for o in model.opset_import}


def compare_with_onnxruntime(model, path, fixed) -> float:
    """max |onnxruntime − paddle| / max |paddle| over the outputs, on U(−1, 1) input of shape `fixed` (seed 1)."""
    import onnxruntime as ort

    x = np.random.default_rng(1).uniform(-1, 1, fixed).astype("float32")
    with paddle.no_grad():
        ref = model(paddle.to_tensor(x))
    refs = [r.numpy() for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    return max(float(np.abs(o - r).max() / np.abs(r).max()) for o, r in zip(outs, refs))


def mv3_db():
    """PP-OCRv3-style detector: MobileNetV3-large ×0.25 + RSEFPN(32) + DB head."""
    return DBDetector(MobileNetV3Det(scale=0.25), 32, se=True)


def r18vd_db():
    """ResNet18-vd (widths 8…64) + DBFPN(32) + DB head."""
    return DBDetector(ResNetVd(widths=(8, 16, 32, 64)), 32, se=False)


# name: (builder, input shape given to paddle.jit.save (-1: dynamic), shape checked, opset, constant folding)
MODELS = {
    "ppocr_det_mv3_db": (mv3_db, [1, 3, 128, 96], [1, 3, 128, 96], 11, True),
    "ppocr_det_r18vd_db_dynamic": (r18vd_db, [-1, 3, -1, -1], [1, 3, 96, 128], 13, True),
    "ppocr_rec_svtr": (SVTRRecognizer, [1, 3, 48, 160], [1, 3, 48, 160], 11, True),
    "ppocr_rec_svtr_dynamic": (SVTRRecognizer, [-1, 3, 48, -1], [1, 3, 48, 128], 14, True),
    "ppocr_rec_svtr_opset17_unfolded": (SVTRRecognizer, [1, 3, 48, 160], [1, 3, 48, 160], 17, False),
    "ppocr_rec_crnn": (CRNNRecognizer, [1, 3, 32, 96], [1, 3, 32, 96], 11, True),
    "ppocr_cls_mv3": (DirectionClassifier, [1, 3, 48, 192], [1, 3, 48, 192], 11, True),
    "ppdet_picodet_lite": (PicoDetLite, [1, 3, 96, 128], [1, 3, 96, 128], 11, True),
}


def digest(path):
    """sha256 of a file (hex)."""
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    """Write the models named on the command line (default: all) and update the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("names", nargs="*", help="models to write (default: all)")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    paddle.set_device("cpu")
    manifest_path = os.path.join(args.outdir, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    manifest["versions"] = {p: metadata.version(p) for p in
                            ("paddlepaddle", "paddle2onnx", "onnx", "onnxruntime", "polygraphy", "onnx_graphsurgeon")}
    models = manifest.setdefault("models", {})
    for seed, (name, (build, shape, checked, opset, folding)) in enumerate(MODELS.items()):
        if args.names and name not in args.names:
            continue
        paddle.seed(seed)
        with paddle.utils.unique_name.guard():  # parameter names restart per model: same bytes for a subset
            model = randomize(build(), seed)
            path = os.path.join(args.outdir, name + ".onnx")
            log = export(model, shape, path, opset, folding)
        ops, opsets = op_types(path)
        rel = compare_with_onnxruntime(model, path, checked)
        models[name] = dict(input_shape=shape, checked_shape=checked, opset=opsets, folding=folding,
                            bytes=os.path.getsize(path), sha256=digest(path), ops=ops,
                            paddle_vs_onnxruntime_rel=rel,
                            pip_installs_tried=[l.strip() for l in log.splitlines() if "installation command" in l])
        print(f"{name}: {os.path.getsize(path)} bytes, opset {opsets}, paddle vs onnxruntime {rel:.2e}")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
