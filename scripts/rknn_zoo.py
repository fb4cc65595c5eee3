"""Run the test zoo through Rockchip's RKNN simulator (rknn-toolkit2 2.5.0, fp16) two ways and print a table.

    bash scripts/install_rknn.sh                 # its own virtualenv (about a minute, 1.4 GB)
    python scripts/rknn_zoo.py [MODEL ...] [--out DIR] [--timeout SECONDS]

Per zoo model: pt2caffe's export with ``--target rknn`` through RKNN's ``load_caffe``, and the same model's
``torch.onnx.export`` through its ``load_onnx`` (the user's alternative). Both are compared with PyTorch's
float32 output (max |a − b| / max |b|). RKNN computes in float16, so no tolerance applies: the ONNX route's
error is the yardstick — the Caffe route should match it. Each RKNN run is a child process in the RKNN
environment (pt2caffe/runtimes/rknn_worker.py); a model whose conversion takes longer than --timeout is reported so.
Not part of the test suite (install size and minutes per model: see README "Targets").
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pt2caffe.conversion.pipeline import convert  # noqa: E402
from pt2caffe.conversion.writing import write  # noqa: E402
from pt2caffe.errors import Pt2CaffeError  # noqa: E402
from pt2caffe.net.targets import TARGETS  # noqa: E402
from tests import zoo  # noqa: E402

WORKER = os.path.join(ROOT, "pt2caffe", "runtimes", "rknn_worker.py")


def rknn_python() -> str:
    return os.environ.get("PT2CAFFE_RKNN_PYTHON") or os.path.expanduser("~/.cache/pt2caffe/rknn-2.5.0/bin/python")


def flat(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    items = out.values() if isinstance(out, dict) else out
    return [tensor for item in items for tensor in flat(item)]


def run_rknn(request: dict, inputs: dict, work: str, timeout: float) -> tuple[list | None, str]:
    paths = [os.path.join(work, name) for name in ("request.json", "inputs.npz", "outputs.npz")]
    with open(paths[0], "w", encoding="utf-8") as handle:
        json.dump(request, handle)
    np.savez(paths[1], **inputs)
    try:
        # -I: not the worker's folder on sys.path (pt2caffe/runtimes/rknn.py would shadow the rknn package)
        done = subprocess.run([rknn_python(), "-I", WORKER, *paths], cwd=work, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timeout ({timeout:.0f} s)"
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or ["failed"])[-1][:80]
    outputs = np.load(paths[2])
    return [outputs[f"out{i}"] for i in range(sum(key.startswith("out") for key in outputs.files))], "ok"


def error(got: list | None, want: list[np.ndarray]) -> str:
    """Each output's relative error, RKNN's outputs matched to the model's by order from the end (RKNN lists
    blobs it considers unread, e.g. a Crop's reference, before the net's outputs)."""
    if got is None:
        return ""
    got = got[len(got) - len(want):] if len(got) >= len(want) else got
    return ", ".join(f"{np.abs(g.reshape(-1) - w.reshape(-1)).max() / np.abs(w).max():.1e}" if g.size == w.size
                     else "shape" for g, w in zip(got, want))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=zoo.ZOO)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "pt2caffe-rknn-zoo"))
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    print("| model | Caffe route (--target rknn) | rel. error | ONNX route | rel. error |\n|---|---|---|---|---|")
    for name in args.models:
        work = os.path.join(args.out, name)
        os.makedirs(work, exist_ok=True)
        model, shapes = zoo.load(name)
        generator = torch.Generator().manual_seed(1)
        inputs = [torch.rand(shape, generator=generator) * 2 - 1 for shape in shapes]
        with torch.no_grad():
            want = [tensor.numpy() for tensor in flat(model(*inputs))]
        try:
            report = write(convert(model, inputs, target=TARGETS["rknn"]), os.path.join(work, name))
            names = [entry["name"] for entry in report["inputs"]]
            feeds = {n: t.numpy() for n, t in zip(names, inputs)}
            caffe, caffe_status = run_rknn({"caffe": [os.path.join(work, f"{name}.{ext}") for ext in ("prototxt", "caffemodel")],
                                            "inputs": names}, feeds, work, args.timeout)
        except Pt2CaffeError as refusal:
            names, feeds, caffe, caffe_status = [f"in{i}" for i in range(len(inputs))], None, None, f"refused: {str(refusal)[:60]}"
        onnx_path = os.path.join(work, f"{name}.onnx")
        try:
            torch.onnx.export(model, tuple(inputs), onnx_path, opset_version=13, dynamo=False, input_names=names)
            onnx, onnx_status = run_rknn({"onnx": onnx_path, "inputs": names},
                                         {n: t.numpy() for n, t in zip(names, inputs)}, work, args.timeout)
        except Exception as failure:  # the exporter's own refusals
            onnx, onnx_status = None, f"torch.onnx.export: {type(failure).__name__}"
        print(f"| {name} | {caffe_status} | {error(caffe, want)} | {onnx_status} | {error(onnx, want)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
