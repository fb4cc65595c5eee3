"""Export speed and memory, measured side by side with torch.save.

    python scripts/benchmark.py [--out DIR] [--skip-vgg]

1. VGG-16 (138 M parameters, 224×224): time of ``torch.save(state_dict)`` vs ``pt2caffe.export``
   (trace + lower + write prototxt/caffemodel/json), each in a fresh child process, with the peak
   resident memory above the process's baseline (after the model is built).
2. A DenseNet-style net of 500 traced ops: trace + emit time (the files are written too).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16() -> nn.Module:
    layers, channels = [], 3
    for item in VGG16:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))


class DenseLayer(nn.Module):
    def __init__(self, channels: int, growth: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(torch.relu(self.bn(x)))], 1)


def dense_net(layers: int = 125) -> nn.Module:
    """``layers`` dense layers of 4 ops each (BN, ReLU, conv, cat): 500 traced ops."""
    blocks, channels = [], 8
    for _ in range(layers):
        blocks.append(DenseLayer(channels, 2))
        channels += 2
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *blocks)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, out: str) -> dict:
    """One measurement in this (fresh) process."""
    from pt2caffe import export

    torch.manual_seed(0)
    model = (vgg16() if kind.startswith("vgg") else dense_net()).eval()
    shape = (1, 3, 224, 224) if kind.startswith("vgg") else (1, 3, 16, 16)
    example = torch.rand(shape)
    baseline = peak_rss_mib()  # before the warm-up, so the activations of the trace count too
    with torch.no_grad():
        model(example)  # warm up torch's kernels (first calls are slow), so only the export is timed
    start = time.perf_counter()
    if kind == "vgg_torch_save":
        torch.save(model.state_dict(), os.path.join(out, "vgg16.pth"))
    else:
        export(model, [example], os.path.join(out, kind))
    seconds = time.perf_counter() - start
    weights_mib = sum(p.numel() * 4 for p in model.state_dict().values()) / 2 ** 20
    return {"kind": kind, "seconds": seconds, "peak_above_baseline_mib": peak_rss_mib() - baseline,
            "weights_mib": weights_mib}


def measure(kind: str, out: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--out", out],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="directory for the files (default: a temporary one)")
    parser.add_argument("--skip-vgg", action="store_true", help="only the DenseNet tracing benchmark")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.out)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        os.makedirs(out, exist_ok=True)
        dense = measure("densenet_500_ops", out)
        print(f"DenseNet-style, 500 traced ops: trace + emit + write {dense['seconds']:.2f} s")
        if args.skip_vgg:
            return
        saved, exported = measure("vgg_torch_save", out), measure("vgg_export", out)
        print(f"VGG-16 ({saved['weights_mib']:.0f} MiB of weights)")
        print(f"  torch.save(state_dict): {saved['seconds']:.2f} s, peak +{saved['peak_above_baseline_mib']:.0f} MiB")
        print(f"  pt2caffe export:        {exported['seconds']:.2f} s, peak +{exported['peak_above_baseline_mib']:.0f} MiB"
              f"  (ratio {exported['seconds'] / saved['seconds']:.2f}×)")


if __name__ == "__main__":
    main()
