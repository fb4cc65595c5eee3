"""The deploy cost of a conversion against its model: the report's "cost" section and the notes where a
lowering makes the net more than twice the model's parameters or activations (pt2caffe.net.footprint)."""
from __future__ import annotations

import math

from ..graph import Const, Graph, leaves
from ..lowering.registry import HANDLERS
from ..net.builder import NetBuilder
from ..net.footprint import blowup_notes, cost_report

FLOAT_BYTES = 4


def family_of(kind: str) -> str:
    """The op family (handler module) that lowers ops of ``kind``; the kind itself when none does."""
    handler = HANDLERS.get(kind)
    return handler.family if handler is not None else kind


def model_bytes(graph: Graph) -> tuple[int, int]:
    """(parameter bytes, activation bytes) of the traced model, as float32: every state_dict tensor an op
    read once (a constant named by one key), and every tensor an op computed."""
    sizes: dict[str, int] = {}
    for op in graph.ops:
        for const in (leaf for leaf in leaves((op.args, op.kwargs)) if isinstance(leaf, Const)):
            if len(const.keys) == 1:
                sizes.setdefault(const.keys[0], const.tensor.numel())
    activations = sum(math.prod(int(size) for size in value.shape) for value in graph.values if value.producer is not None)
    return sum(sizes.values()) * FLOAT_BYTES, activations * FLOAT_BYTES


def cost_section(net: NetBuilder, graph: Graph) -> dict:
    """The report's "cost" (pt2caffe.net.footprint.cost_report) of the ``net`` lowered from ``graph``."""
    return cost_report(net.layers, family_of, *model_bytes(graph))


def cost_notes(net: NetBuilder, graph: Graph) -> list[str]:
    """Notes naming the op behind a net more than twice the model's parameter or activation bytes."""
    return blowup_notes(net.layers, family_of, *model_bytes(graph))
