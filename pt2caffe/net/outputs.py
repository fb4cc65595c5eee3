"""Make the runtimes see exactly the model's outputs, in order, each by its own name.

Caffe, OpenCV and MNN all take a blob that no layer reads for an output: pycaffe lists it in
``net.outputs``, MNN's converter makes it a session output, and OpenCV lists in
``getUnconnectedOutLayersNames()`` every layer none of whose tops is read, in layer order
(and ``net.forward()`` with no name returns the last layer's first top). A Silence layer hides
a blob from Caffe but is itself such a layer in OpenCV, and MNN drops it and lists the blob.
So before writing, :func:`settle_outputs`

- drops layers whose results nothing reads (a branch the model computes and does not use);
- consumes every Slice part that no layer reads (unused chunks, the trailing row/column of a
  floor-mode pooling, a 'same' padding crop) with an identity Crop of a used part of the same
  Slice: ``Crop(used, unused)`` with ``axis`` = slice axis + 1 copies ``used`` (Crop takes
  only the shape of its second bottom, and the parts agree on every axis after the slice
  axis; caffe crop_layer.cpp). ``offset: 0`` is written out: MNN's converter rejects a Crop
  without one. A Slice on the last axis first views its bottom as 4-D (a, b, W, 1) (Reshape; (N, rest,
  W, 1) where the target refuses views across the batch) so that the slice axis is not last, and each
  used part is viewed back. Where the net's target refuses such a Crop (ncnn's Crop takes every extent of its reference), a Silence
  layer reads the unused parts instead;
- makes every model output the only top of a layer of the same name that no layer reads, with
  these layers in the model's output order: an output that is not (read by a later layer, a
  second top, produced out of order) is copied by an identity Power layer appended at the end
  under its name, the internal blob being renamed ``<name>/value``.

OpenCV then lists exactly the outputs, in the model's order; ``net.forward()`` returns the
last of them (the first when there is one output: OpenCV's list and its default output
both follow layer order, so they cannot both start with the first of several outputs).
A model input returned as an output stays the Input layer's blob.
"""
from __future__ import annotations

import math
from collections import Counter

from . import caffe_pb2
from .builder import Blob, Layer, NetBuilder
from .targets import lint


def settle_outputs(net: NetBuilder, outputs: list[Blob]) -> None:
    """Apply both rules of the module docstring to ``net`` in place.

    ``outputs`` are the model's output blobs in forward's return order; their names are kept.
    Raises ValueError for an unread top the rules do not cover (a bug in a lowering).
    """
    wanted = {blob.name for blob in outputs}
    _drop_dead_layers(net, wanted)
    read = _read_blobs(net) | wanted
    settled = []
    for layer in net.layers:
        unused = [top for top in layer.tops if top not in read]
        if not unused:
            settled.append(layer)
            continue
        if layer.type != "Slice" or len(unused) == len(layer.tops) or len(layer.top_shapes) != len(layer.tops):
            raise ValueError(f"internal: layer {layer.name} ({layer.type}) leaves {', '.join(unused)} unread")
        settled.extend(_slice_without_unused(net, layer, set(unused)))  # its new layers read the unused tops
    net.layers = settled
    _copy_misplaced_outputs(net, outputs)


def _drop_dead_layers(net: NetBuilder, wanted: set[str]) -> None:
    """Remove layers none of whose tops is read or an output (values the model computes and
    drops, e.g. a branch it does not use), last first, so their inputs may die in turn."""
    readers = Counter(bottom for layer in net.layers for bottom in layer.bottoms)
    kept = []
    for layer in reversed(net.layers):  # a layer's readers come after it
        if layer.type != "Input" and layer.tops and not any(readers[top] or top in wanted for top in layer.tops):
            readers.subtract(layer.bottoms)
        else:
            kept.append(layer)
    net.layers = kept[::-1]


def _read_blobs(net: NetBuilder) -> set[str]:
    return {bottom for layer in net.layers for bottom in layer.bottoms}


def _new_layer(net: NetBuilder, anchor: Layer, hint: str, layer_type: str, bottoms: list[str],
               shape: tuple[int, ...], params: dict, top: str | None = None) -> Layer:
    """A one-top layer (named uniquely after ``hint``, top ``top`` or its own name), not yet placed."""
    net.layer(hint, layer_type, [Blob(name, ()) for name in bottoms], [shape], params,
              module=anchor.module, source=anchor.source)
    layer = net.layers.pop()
    if top is not None:
        layer.tops = [top]
    return layer


def _view_dims(shape: tuple[int, ...], batch_kept: bool) -> list[int]:
    """Reshape dims that restore ``shape`` from a view: the batch copied (``batch_kept``: the view kept it
    on axis 0) or inferred."""
    return [0 if batch_kept else -1, *shape[1:]] if len(shape) > 1 else list(shape)


def _slice_without_unused(net: NetBuilder, layer: Layer, unused: set[str]) -> list[Layer]:
    """The layers replacing Slice ``layer``: the Slice, identity Crops eating the ``unused``
    tops, and, for a slice on the last axis, the 4-D view before and the views back after."""
    shapes = list(layer.top_shapes)
    ndim = len(shapes[0])
    axis = layer.params["slice_param"].get("axis", 1) % ndim
    keep = next(top for top in layer.tops if top not in unused)
    produced = []
    bottom, parts, part_shapes = layer.bottoms[0], list(layer.tops), shapes
    if axis == ndim - 1:
        lead = shapes[0][:-1]
        width = sum(shape[-1] for shape in shapes)
        first, rows = math.prod(lead[:-1]), (lead[-1] if lead else 1)
        dims = [-1, rows, width, 1]
        if len(lead) > 1 and _view_refused(net, shapes[0][:-1] + (width,), (first, rows, width, 1)):
            first, rows = lead[0], math.prod(lead[1:])  # the batch kept (NNIE, ncnn)
            dims = [0, rows, width, 1]
        view = _new_layer(net, layer, f"{layer.name}/view", "Reshape", [bottom], (first, rows, width, 1),
                          {"reshape_param": {"shape": {"dim": dims}}})
        produced.append(view)
        bottom, axis = view.tops[0], 2
        parts = [net.unique_name(f"{top}/view") for top in layer.tops]
        part_shapes = [(first, rows, shape[-1], 1) for shape in shapes]
    kept_index = layer.tops.index(keep)
    kept_name = parts[kept_index]
    parts[kept_index] = net.unique_name(f"{kept_name}/part")
    params = dict(layer.params, slice_param=dict(layer.params["slice_param"], axis=axis))
    freed = layer.name if layer.name in layer.tops else None  # given to the layer that now writes that top
    slice_name = net.unique_name(f"{layer.name}/slice") if freed else layer.name
    produced.append(Layer(slice_name, "Slice", [bottom], parts, params, [], layer.module, layer.source,
                          part_shapes))
    current = parts[kept_index]
    eaten = [index for index, top in enumerate(layer.tops) if top in unused]
    if eaten and _crop_refused(net, part_shapes[kept_index], part_shapes[eaten[0]], axis + 1):
        produced.append(Layer(net.unique_name(f"{layer.name}/unused"), "Silence", [parts[i] for i in eaten], [], {},
                              [], layer.module, layer.source, []))
        if kept_name != current:
            produced[-2].tops[kept_index] = kept_name  # the Slice writes the kept part under its own name again
        eaten = []
    for count, index in enumerate(eaten, 1):
        crop = _new_layer(net, layer, f"{layer.tops[index]}/consume", "Crop", [current, parts[index]],
                          part_shapes[kept_index], {"crop_param": {"axis": axis + 1, "offset": [0]}},
                          top=kept_name if count == len(eaten) else None)
        produced.append(crop)
        current = crop.tops[0]
    if produced[0].type == "Reshape":
        batch_kept = produced[0].params["reshape_param"]["shape"]["dim"][0] == 0
        for index, top in enumerate(layer.tops):
            if top not in unused:
                view_name = kept_name if index == kept_index else parts[index]
                dims = _view_dims(shapes[index], batch_kept)
                produced.append(_new_layer(net, layer, f"{top}/unview", "Reshape", [view_name], shapes[index],
                                           {"reshape_param": {"shape": {"dim": dims}}}, top=top))
    for new in produced:
        if freed in new.tops:
            new.name = freed
    return produced


def _view_refused(net: NetBuilder, shape: tuple, view: tuple) -> bool:
    """Whether the net's target refuses a Reshape of ``shape`` to ``view`` (one folding the batch)."""
    reshape = caffe_pb2.LayerParameter(name="view", type="Reshape", bottom=["in"], top=["out"])
    reshape.reshape_param.shape.dim.extend([-1, *view[1:]])
    return bool(lint([reshape], {"in": shape, "out": view}, net.target, producers={}, batch=shape[0]))


def _crop_refused(net: NetBuilder, kept: tuple, unused: tuple, axis: int) -> bool:
    """Whether the net's target refuses an identity Crop of a ``kept`` part to an ``unused`` one (ncnn's Crop
    takes every extent of its reference): such parts go to a Silence layer instead."""
    crop = caffe_pb2.LayerParameter(name="crop", type="Crop", bottom=["kept", "unused"], top=["out"])
    crop.crop_param.axis = axis
    shapes = {"kept": kept, "unused": unused, "out": kept}
    return bool(lint([crop], shapes, net.target, producers={}, batch=kept[0] if kept else None))


def _copy_misplaced_outputs(net: NetBuilder, outputs: list[Blob]) -> None:
    """Second rule of the module docstring: identity copies for outputs not already in place."""
    writer = {top: index for index, layer in enumerate(net.layers) for top in layer.tops}
    read = _read_blobs(net)
    inputs = {blob.name for blob in net.inputs}
    last, copying, seen = -1, False, set()
    for blob in outputs:
        name = blob.name
        if name in seen or name in inputs:
            continue
        seen.add(name)
        index = writer[name]
        layer = net.layers[index]
        in_place = layer.tops == [name] and layer.name == name and name not in read and index > last
        if in_place and not copying:
            last = index
            continue
        copying = True
        internal = net.unique_name(f"{name}/value")
        for other in net.layers:
            other.tops = [internal if top == name else top for top in other.tops]
            other.bottoms = [internal if bottom == name else bottom for bottom in other.bottoms]
        for other in net.layers:
            if other.name == name:
                other.name = net.unique_name(f"{name}/layer")
        net.layers.append(Layer(name, "Power", [internal], [name], {}, [], layer.module, layer.source,
                                [tuple(blob.shape)]))
