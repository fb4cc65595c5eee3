"""What a net costs beside the model it came from: layers, weight bytes, blob bytes, per op family, the
estimated forward time per runtime (pt2caffe.net.cost), and notes where a lowering blows up the net.

Bytes are float32 (4 per value). Blob bytes are the sum of every top blob (pycaffe keeps them all; OpenCV
and MNN reuse memory, so their peak is lower) but the views that share their bottom's memory (Reshape,
Flatten, Split: ``ShareData`` in reshape_layer.cpp, flatten_layer.cpp, split_layer.cpp); weight bytes are what the caffemodel stores. The model's own
figures to compare with are given by the caller: parameter bytes (the state_dict tensors the weights came
from) and activation bytes (every tensor its forward computed).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .builder import Layer
from .cost import FLOAT_BYTES, PORTABLE, estimate

VIEWS = frozenset({"Reshape", "Flatten", "Split"})  # tops that share their bottom's memory in Caffe
BLOWUP = 2.0  # a note when the net's weights or blobs exceed the model's own by more than this factor
MIB = float(1 << 20)


@dataclass
class Share:
    """One op family's (or one op's) part of the net."""

    layers: int = 0
    weight_bytes: int = 0
    blob_bytes: int = 0

    def add(self, layer: Layer) -> None:
        self.layers += 1
        self.weight_bytes += sum(weight.array.size for weight in layer.weights) * FLOAT_BYTES
        if layer.type not in VIEWS:
            self.blob_bytes += sum(math.prod(shape) for shape in layer.top_shapes) * FLOAT_BYTES


@dataclass
class Footprint:
    """The net's totals, its parts per op family and per op (kind, module path, source line)."""

    total: Share = field(default_factory=Share)
    families: dict[str, Share] = field(default_factory=dict)
    ops: dict[tuple[str, str, str], Share] = field(default_factory=dict)


def footprint(layers: list[Layer], family_of: Callable[[str], str]) -> Footprint:
    """Add up ``layers``; ``family_of(op kind)`` names the family that lowered a layer ("" kind: "net", the
    inputs, guards and heads no op emitted)."""
    found = Footprint()
    for layer in layers:
        if layer.type == "Input":
            continue
        family = family_of(layer.op) if layer.op else "net"
        for share in (found.total, found.families.setdefault(family, Share()),
                      found.ops.setdefault((layer.op, layer.module, layer.source), Share())):
            share.add(layer)
    return found


def cost_report(layers: list[Layer], family_of: Callable[[str], str], parameter_bytes: int,
                activation_bytes: int) -> dict:
    """The report's "cost": totals, the model's own bytes, estimated milliseconds per runtime (one thread,
    the model of pt2caffe.net.cost: a ranking aid, not a measurement) and the parts per op family."""
    found = footprint(layers, family_of)
    return {
        "layers": found.total.layers,
        "weight_bytes": found.total.weight_bytes,
        "blob_bytes": found.total.blob_bytes,
        "parameter_bytes": parameter_bytes,
        "activation_bytes": activation_bytes,
        "estimated_ms": {runtime: round(estimate(layers, runtime).time_us / 1000.0, 3) for runtime in PORTABLE},
        "families": {family: {"layers": share.layers, "weight_bytes": share.weight_bytes,
                              "blob_bytes": share.blob_bytes}
                     for family, share in sorted(found.families.items(), key=lambda item: -item[1].blob_bytes)},
    }


def blowup_notes(layers: list[Layer], family_of: Callable[[str], str], parameter_bytes: int,
                 activation_bytes: int) -> list[str]:
    """One note per measure (weights against the model's parameters, blobs against its activations) that
    the net exceeds by more than BLOWUP, naming the op whose lowering adds the most of it (kind, module path,
    source line)."""
    found = footprint(layers, family_of)
    notes = []
    for what, ours, theirs, pick in (("weights", found.total.weight_bytes, parameter_bytes, "weight_bytes"),
                                     ("blobs", found.total.blob_bytes, activation_bytes, "blob_bytes")):
        if theirs <= 0 or ours <= BLOWUP * theirs:
            continue
        (kind, module, source), share = max(found.ops.items(), key=lambda item: getattr(item[1], pick))
        model_side = "parameters" if what == "weights" else "activations"
        notes.append(f"cost: the net's {what} are {ours / theirs:.1f}× the model's {model_side} ({_bytes(ours)} vs "
                     f"{_bytes(theirs)}); the most from {kind or 'layers no op emitted'} in {module or '<model>'} "
                     f"({source or 'no source line'}): {_bytes(getattr(share, pick))}")
    return notes


def _bytes(count: int) -> str:
    """A byte count in MiB, or KiB below one MiB."""
    return f"{count / MIB:,.1f} MiB" if count >= MIB else f"{count / 1024:,.1f} KiB"
