"""What a net costs to run on a target: the measure :func:`pt2caffe.lowering.choice.choose` minimises.

For now the number of layers (issue 24); issue 21 replaces it with per-target costs measured per layer form.
"""
from __future__ import annotations


def cost(layers, target) -> float:
    """The cost of ``layers`` (builder Layers) on ``target``: their count."""
    return float(len(layers))
