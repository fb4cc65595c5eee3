"""Guards: layers right after each Input that make a runtime refuse, loudly, every input size the net is
not valid for (pt2caffe.net.sizes), instead of computing wrong numbers.

A fixed axis: one Reshape that copies every axis (``dim: 0``) but that one, which it states literally: the
element count then matches only when that axis has the export's size. Measured (pt2caffe's tests repeat
it): pycaffe aborts with "output count must match input count" (reshape_layer.cpp), OpenCV dnn raises
"srcTotal == dstTotal" (reshape_layer.cpp), MNN reports "Compute Shape Error for <guard>" and its forward
returns nothing. A single Reshape to the whole export shape would only compare element counts (4×16
passes for 8×8).

An axis valid at every multiple of k (a UNet's H and W): Reshapes whose inferred dimension (``dim: -1``)
exists only when k divides that axis, on the data itself, then back (guard_multiples). Caffe's Reshape
refuses a count the specified dimensions do not divide ("bottom count … must be divisible by the
product of the specified dimensions", reshape_layer.cpp), OpenCV "Can't infer a dim denoted by -1",
MNN's forward fails. Measured alternatives that MNN runs silently at a wrong size, so not used: a Crop to
a reference of k-rounded size (MNN's converter makes the Crop static), an Eltwise with such a blob (MNN
does not check the shapes), any guard on a side branch (MNN drops it); and Reshape's axis/num_axes (MNN
fails at every size).
"""
from __future__ import annotations

import math

from . import caffe_pb2
from .builder import Layer, NetBuilder
from .sizes import InputSizes
from .targets import lint


def add_guards(net: NetBuilder, sizes: list[InputSizes]) -> None:
    """Insert the guards of every fixed axis and every stride axis right after each Input layer and make
    the input's readers read the last guard instead (names ``<input>/size_guard_axis<k>…``). A guard the
    net's target refuses (pt2caffe.net.targets: NNIE takes no literal batch in a Reshape) is left out, with
    a note."""
    for entry in sizes:
        guards, bottom = [], entry.name
        for axis in entry.fixed:
            dims = [0] * len(entry.shape)
            dims[axis] = entry.shape[axis]
            layer = _reshape(net, f"{entry.name}/size_guard_axis{axis}", bottom, dims, entry.shape,
                             f"guard: only {entry.shape[axis]} is valid on axis {axis}")
            refusal = _refused(net, [layer], entry.shape)
            if refusal:
                net.notes.append(f"input {entry.name}: no guard for axis {axis} (only {entry.shape[axis]} is valid): "
                                 f"{refusal}")
                continue
            guards.append(layer)
            bottom = layer.tops[0]
        multiples = guard_multiples(net, entry, bottom)
        refusal = _refused(net, multiples, entry.shape)
        if refusal:
            net.notes.append(f"input {entry.name}: no guard for its stride rule ({entry.describe()}): {refusal}")
        else:
            guards += multiples
        if guards:
            _insert_after_input(net, entry.name, guards)


def _refused(net: NetBuilder, guards: list[Layer], shape: tuple[int, ...]) -> str | None:
    """Why the net's target refuses one of ``guards`` (chained Reshapes from the input), or None."""
    protos, shapes = [], {"in": tuple(shape)}
    for index, layer in enumerate(guards):
        proto = caffe_pb2.LayerParameter(name=layer.name, type="Reshape", bottom=[protos[-1].top[0] if protos else "in"],
                                         top=[f"out{index}"])
        proto.reshape_param.shape.dim.extend(layer.params["reshape_param"]["shape"]["dim"])
        protos.append(proto)
        shapes[f"out{index}"] = layer.top_shapes[0]
    found = lint(protos, shapes, net.target, producers={}, batch=shape[0]) if protos else []
    return found[0].line(net.target.name) if found else None


def guard_multiples(net: NetBuilder, entry: InputSizes, bottom: str) -> list[Layer]:
    """Reshapes that exist only when every stride axis of a (N, C, H, W) or (N, C, L) input is a multiple
    of its stride, and give the input back unchanged (the batch copied, free).

    With C fixed (it always is): (N, C, H, W) → [0, −1, k·C, 0] = (N, H/k, k·C, W) needs k | H (the count
    C·H·W over k·C·W); → [0, −1, 1, 0] = (N, C·H, 1, W); → [0, 0, −1, k] = (N, C·H, W/k, k) needs k | W;
    → [0, 0, 1, −1]; → [0, C, −1, 0] = (N, C, H, W). An H-only or W-only rule takes its part; (N, C, L) is
    the H part on a 3-D blob.
    """
    if not entry.multiple:
        return []
    channels, rank, name = entry.shape[1], len(entry.shape), entry.name
    steps = []
    if 2 in entry.multiple:
        steps.append(([0, -1, entry.multiple[2] * channels] + [0] * (rank - 3), 2))
    if 3 in entry.multiple:
        steps += [([0, -1, 1, 0], 3), ([0, 0, -1, entry.multiple[3]], 3), ([0, 0, 1, -1], 3)]
    steps.append(([0, channels, -1] + [0] * (rank - 3), max(entry.multiple)))
    layers, shape = [], tuple(entry.shape)
    for index, (dims, axis) in enumerate(steps):
        what = f"guard: axis {axis} must be a multiple of {entry.multiple[axis]}"
        shape = _reshaped(shape, dims)
        layers.append(_reshape(net, f"{name}/size_guard_axis{axis}_multiple{entry.multiple[axis]}", bottom, dims, shape,
                               what if index < len(steps) - 1 else "guard: the input's shape back"))
        bottom = layers[-1].tops[0]
    return layers


def _reshaped(shape: tuple[int, ...], dims: list[int]) -> tuple[int, ...]:
    """Caffe's Reshape of ``shape`` by ``dims`` (0 copies, −1 takes the rest; reshape_layer.cpp), at the
    exported size, where every guard exists."""
    out = [shape[i] if d == 0 else d for i, d in enumerate(dims)]
    rest = math.prod(shape) // math.prod(d for d in out if d != -1)
    return tuple(rest if d == -1 else d for d in out)


def _reshape(net: NetBuilder, hint: str, bottom: str, dims: list[int], shape: tuple[int, ...], source: str) -> Layer:
    name = net.unique_name(hint)
    return Layer(name, "Reshape", [bottom], [name], {"reshape_param": {"shape": {"dim": dims}}}, source=source,
                 top_shapes=[tuple(shape)])


def _insert_after_input(net: NetBuilder, input_name: str, guards: list[Layer]) -> None:
    position = next(i for i, layer in enumerate(net.layers) if layer.type == "Input" and layer.tops == [input_name])
    last = guards[-1].tops[0]
    for layer in net.layers[position + 1:]:
        layer.bottoms = [last if bottom == input_name else bottom for bottom in layer.bottoms]
    net.layers[position + 1:position + 1] = guards
