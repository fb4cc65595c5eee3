"""``pt2caffe lint NET.prototxt --target T``: every layer of a net that breaks a rule of T, with the rule and
where the rule comes from (pt2caffe.net.targets); exit 1 when anything does.

The blob shapes are stock Caffe's, inferred without running it (pt2caffe.net.shapes: Net::Init's walk and
each layer's Reshape rule, inputs of the declared shapes); a net Caffe itself refuses is an error naming
the layer and Caffe's reason.
"""
from __future__ import annotations

from ..net.proto import read_prototxt
from ..net.shapes import infer_shapes
from ..net.targets import TARGETS, lint


def main(args) -> int:
    net = read_prototxt(args.prototxt)
    target = TARGETS[args.target]
    violations = lint(net.layer, infer_shapes(net), target)
    for violation in violations:
        print(violation.line(target.name))
    print(f"{args.prototxt}: {len(net.layer)} layers, {len(violations)} violation(s) of target {target.name} "
          f"({target.what})")
    return 1 if violations else 0
