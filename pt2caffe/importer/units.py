"""Parametrised units of a Caffe net and where their inputs come from.

A unit is what one PyTorch parameter-holding op computes: a layer with learned blobs, or BatchNorm
fused with the Scale that is its only reader (Caffe writes a PyTorch BatchNorm as that pair: the
BatchNorm layer has no affine part, batch_norm_layer.cpp). Its *key* is what it computes, read from
its blob shapes only (stride, padding and dilation are compared later, by the proof): a Convolution
and an InnerProduct with the same output count and fan-in compute the same map on a flattened input.

*Provenance* expressions say which units feed a blob, through every parameter-free layer:
``("in", i)`` the i-th net input, ``("u", unit)``, ``("cat", parts)`` (Concat, order kept),
``("elt", parts)`` (Eltwise: order-free), ``("part", k, e)`` (k-th top of a Slice), ``("op", type,
parts)`` any other layer with several bottoms. An operation whose operands all have one provenance has
that provenance (``x − ReLU(x − 6)`` is x's), and Crop follows its first bottom only (the second gives
a shape).

An expression bigger than ``LARGEST`` nodes (written out as a tree) becomes ``("mix", atoms)``: the
units and inputs it is computed from, however combined. Unrolled recurrent steps whose weights are
stored once (no unit between the steps) would otherwise nest each step's state in the next one several
times over: sizes, comparisons and walks that double at every step.

A recurrent *cell* unit (Caffe's LSTM layer; on the PyTorch side every layer holding one nn.LSTM
layer's weights, unrolled over the steps) is one unit however many layers it has: every blob computed
only from the cell (the steps' gates, states and outputs, their slices and concatenations) has the
cell's provenance.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .caffe_net import CaffeLayer

LARGEST = 400  # nodes of a provenance expression kept as it is (see the module docstring)
LEARNED = {"Convolution", "Deconvolution", "InnerProduct", "BatchNorm", "Scale", "Bias", "PReLU", "Normalize",
           "Embed", "LSTM", "RNN"}


@dataclass(eq=False)
class Unit:
    """``layers`` (one, or BatchNorm + Scale), its ``key``, input provenance ``source``, output blob."""

    layers: list[CaffeLayer]
    key: tuple
    source: tuple | None = None
    out: str = ""
    constant: bool = False  # PyTorch side: every blob is a converter constant (transparent)
    cell: bool = False  # a recurrent cell: every blob computed only from it is its output

    @property
    def name(self) -> str:
        return self.layers[0].name

    @property
    def kind(self) -> str:
        return self.key[0]


def unit_key(layer: CaffeLayer) -> tuple:
    """What a layer computes, from its blob shapes (Caffe layouts: conv (O, I/g, kh, kw), IP (O, I),
    Deconvolution (I, O/g, kh, kw))."""
    shape = layer.blobs[0].shape
    if layer.type == "Convolution":
        return ("linear map", shape[0], int(np.prod(shape[1:])))
    if layer.type == "InnerProduct":
        return ("linear map", shape[-2], shape[-1])
    if layer.type == "Deconvolution":
        return ("transposed convolution", shape[1] * max(layer.proto.convolution_param.group, 1),
                int(np.prod(shape[1:])))
    if layer.type == "BatchNorm":
        return ("batch norm", layer.blobs[0].size)
    if layer.type == "LSTM":
        return ("lstm", layer.blobs[0].shape[0] // 4, layer.blobs[0].shape[1])
    return (layer.type.lower(), tuple(blob.shape for blob in layer.blobs))


def find_units(layers: list[CaffeLayer], constant=lambda group: False) -> list[Unit]:
    readers = defaultdict(list)
    for layer in layers:
        for bottom in layer.bottoms:
            readers[bottom].append(layer)
    units, fused = [], set()
    for layer in layers:
        if layer.type not in LEARNED or not layer.blobs or id(layer) in fused:
            continue
        group = [layer]
        after = readers[layer.tops[0]] if layer.type == "BatchNorm" else []
        if len(after) == 1 and after[0].type == "Scale" and len(after[0].bottoms) == 1 and after[0].blobs:
            group.append(after[0])
            fused.add(id(after[0]))
        units.append(Unit(group, unit_key(layer), out=group[-1].tops[0], constant=constant(group),
                          cell=layer.type == "LSTM"))
    return units


def merge(head: tuple, parts: list) -> tuple:
    distinct = []
    for part in parts:
        if part not in distinct:
            distinct.append(part)
    return distinct[0] if len(distinct) == 1 else head + (frozenset(distinct),)


def atoms(expr) -> frozenset:
    """The inputs and units an expression is computed from, however they are combined."""
    head = expr[0]
    if head in ("u", "in"):
        return frozenset([expr])
    if head == "cat":
        return frozenset().union(*(atoms(part) for part in expr[1]))
    if head == "part":
        return atoms(expr[2])
    if head in ("elt", "op", "mix"):
        return frozenset().union(*(atoms(part) for part in expr[-1]))
    return frozenset([expr])


def _within_cell(expr: tuple) -> tuple:
    """``("u", cell)`` for an expression computed from one recurrent cell alone, else ``expr``."""
    if expr[0] == "u":
        return expr
    found = atoms(expr)
    only = next(iter(found)) if len(found) == 1 else None
    return only if only is not None and only[0] == "u" and only[1].cell else expr


def provenance(layers: list[CaffeLayer], inputs: list[str], units: list[Unit]) -> dict[str, tuple]:
    """Blob → provenance expression; sets each unit's ``source`` (the provenance of its input; for a
    cell, of the first layer's first bottom: the sequence)."""
    expr = {name: ("in", i) for i, name in enumerate(inputs)}
    last_of = {id(unit.layers[-1]): unit for unit in units if not unit.cell}
    inner = {id(layer) for unit in units if not unit.cell for layer in unit.layers[:-1]}
    cell_of = {id(layer): unit for unit in units if unit.cell for layer in unit.layers}
    sized = {}  # id(expression) → (expression, nodes): see _nodes
    for layer in layers:
        parts = [expr.get(bottom, ("?", bottom)) for bottom in layer.bottoms]
        unit = last_of.get(id(layer))
        cell = cell_of.get(id(layer))
        if cell is not None:
            if layer is cell.layers[0]:
                cell.source = parts[0]
            result = ("u", cell)
        elif unit is not None:
            unit.source = expr.get(unit.layers[0].bottoms[0], ("?",))
            result = unit.source if unit.constant else ("u", unit)
        elif id(layer) in inner or layer.type == "Crop" or len(parts) == 1:
            result = parts[0] if parts else ("?", layer.name)
        elif layer.type == "Concat":
            flat = []
            for part in parts:
                flat += list(part[1]) if part[0] == "cat" else [part]
            result = ("cat", tuple(flat))
        elif layer.type == "Eltwise":
            result = merge(("elt",), parts)
        else:
            result = merge(("op", layer.type), parts)
        if cell_of:
            result = _within_cell(result)
        if _nodes(result, sized) > LARGEST:
            result = ("mix", atoms(result))
        for k, top in enumerate(layer.tops):
            expr[top] = result if len(layer.tops) == 1 else ("part", k, result)
    return expr


def _nodes(expr: tuple, sized: dict) -> int:
    """Nodes of ``expr`` written out as a tree. ``sized`` (id → (expression, nodes), which keeps each
    expression alive) holds every blob's expression already, so a new one costs its own parts only."""
    known = sized.get(id(expr))
    if known is not None:
        return known[1]
    head = expr[0]
    if head == "cat":
        nodes = 1 + sum(_nodes(part, sized) for part in expr[1])
    elif head == "part":
        nodes = 1 + _nodes(expr[2], sized)
    elif head in ("elt", "op", "mix"):
        nodes = 1 + sum(_nodes(part, sized) for part in expr[-1])
    else:
        nodes = 1
    sized[id(expr)] = (expr, nodes)
    return nodes
