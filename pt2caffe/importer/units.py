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
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .caffe_net import CaffeLayer

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
        units.append(Unit(group, unit_key(layer), out=group[-1].tops[0], constant=constant(group)))
    return units


def merge(head: tuple, parts: list) -> tuple:
    distinct = []
    for part in parts:
        if part not in distinct:
            distinct.append(part)
    return distinct[0] if len(distinct) == 1 else head + (frozenset(distinct),)


def provenance(layers: list[CaffeLayer], inputs: list[str], units: list[Unit]) -> dict[str, tuple]:
    """Blob → provenance expression; sets each unit's ``source`` (the provenance of its input)."""
    expr = {name: ("in", i) for i, name in enumerate(inputs)}
    last_of = {id(unit.layers[-1]): unit for unit in units}
    inner = {id(layer) for unit in units for layer in unit.layers[:-1]}
    for layer in layers:
        parts = [expr.get(bottom, ("?", bottom)) for bottom in layer.bottoms]
        unit = last_of.get(id(layer))
        if unit is not None:
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
        for k, top in enumerate(layer.tops):
            expr[top] = result if len(layer.tops) == 1 else ("part", k, result)
    return expr
