"""What a net costs to run on a target: the measure :func:`pt2caffe.lowering.choice.choose` minimises.

For now (issue 24) the number of layers that compute or move data: Reshape, Flatten, Split, Silence and
Dropout share their bottom's memory in Caffe (reshape_layer.cpp, flatten_layer.cpp: ShareData; dropout is
the identity at test time) and count nothing. Issue 21 replaces this with per-target costs measured per
layer form.
"""
from __future__ import annotations

FREE = frozenset({"Reshape", "Flatten", "Split", "Silence", "Dropout"})


def cost(layers, target) -> float:
    """The cost of ``layers`` (builder Layers) on ``target``: how many of them compute or move data."""
    return float(sum(1 for layer in layers if layer.type not in FREE))
