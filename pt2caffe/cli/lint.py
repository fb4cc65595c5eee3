"""``pt2caffe lint NET.prototxt --target T``: every layer of a net that breaks a rule of T, with the rule and
where the rule comes from (pt2caffe.net.targets); exit 1 when anything does.

The blob shapes are the reference pycaffe's (the net set up once in a child process, inputs of the
declared shapes); a net Caffe itself refuses is an error naming Caffe's reason.
"""
from __future__ import annotations

import numpy as np

from ..net.proto import read_prototxt
from ..net.targets import TARGETS, lint
from ..runtimes.launch import run_pycaffe


def blob_shapes(path: str, net) -> dict[str, tuple[int, ...]]:
    """Every blob's shape as stock Caffe sets the net up (pycaffe, child process)."""
    inputs = {layer.top[0]: np.zeros(tuple(layer.input_param.shape[0].dim), np.float32)
              for layer in net.layer if layer.type == "Input" and layer.input_param.shape}
    return {name: blob.shape for name, blob in run_pycaffe(path, None, inputs).items()}


def main(args) -> int:
    net = read_prototxt(args.prototxt)
    target = TARGETS[args.target]
    violations = lint(net.layer, blob_shapes(args.prototxt, net), target)
    for violation in violations:
        print(violation.line(target.name))
    print(f"{args.prototxt}: {len(net.layer)} layers, {len(violations)} violation(s) of target {target.name} "
          f"({target.what})")
    return 1 if violations else 0
