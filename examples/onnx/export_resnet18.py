"""Write examples/resnet18 with its deterministic weights as an ONNX file, the way a model usually arrives:
``torch.onnx.export`` with a symbolic batch. Nothing is downloaded.

    python examples/onnx/export_resnet18.py [OUTPUT.onnx] [--opset N]
"""
import argparse
import os
import sys
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "resnet18"))

from make_weights import randomize  # noqa: E402
from model import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=os.path.join(HERE, "resnet18.onnx"))
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    model = randomize(build_model()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes about the TorchScript exporter
        torch.onnx.export(model, (torch.rand(1, 3, 224, 224),), args.output, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=args.opset, dynamo=False)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
