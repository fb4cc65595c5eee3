"""The layers Caffe builds from a net, in order, as the rules read them.

A NetParameter (a user's prototxt) as Caffe reads it: net-level inputs become a first Input layer
(src/caffe/util/upgrade_proto.cpp UpgradeNetInput) and only the layers whose include/exclude rules the
phase meets stay (src/caffe/net.cpp FilterNet, StateMeetsRule). pt2caffe's own Layers are read through
views: the parameter messages are filled once per distinct (type, parameters) and shared, which keeps a
16,000-layer net's inference cheap (most layers repeat a few configurations).
"""
from __future__ import annotations

from .. import caffe_pb2
from ..builder import Layer
from ..proto import layer_proto
from .rules import ShapeError


class LayerView:
    """A pt2caffe Layer read like a LayerParameter: name, type, bottom, top, and its parameter messages (with
    caffe.proto's defaults) from a shared template; ``key`` names the template (same key, same rule result
    for the same bottom shapes)."""

    def __init__(self, layer: Layer, template: caffe_pb2.LayerParameter, key: tuple):
        self.name, self.type, self.bottom, self.top = layer.name, layer.type, layer.bottoms, layer.tops
        self.key, self._template = key, template

    def __getattr__(self, field: str):
        return getattr(self._template, field)


def _views(layers: list[Layer]) -> list[LayerView]:
    templates: dict[tuple, caffe_pb2.LayerParameter] = {}
    views = []
    for layer in layers:
        key = (layer.type, repr(layer.params), len(layer.tops))
        if key not in templates:
            templates[key] = layer_proto(Layer("", layer.type, [], [], layer.params))
        views.append(LayerView(layer, templates[key], key))
    return views


def net_layers(layers, phase: str) -> list:
    """The LayerParameters Caffe builds, in order: pt2caffe Layers converted; a NetParameter's net-level
    inputs as a first Input layer, and only the layers whose include/exclude rules ``phase`` meets."""
    if not isinstance(layers, caffe_pb2.NetParameter):
        return _views(list(layers))
    if layers.layers:
        raise ShapeError("the net uses V1 'layers' entries: upgrade it with Caffe's upgrade_net_proto_text first")
    state = caffe_pb2.NetState()
    state.CopyFrom(layers.state)
    state.phase = caffe_pb2.Phase.Value(phase)
    return _net_inputs(layers) + [layer for layer in layers.layer if _included(layer, state)]


def _net_inputs(net) -> list:
    """UpgradeNetInput (src/caffe/util/upgrade_proto.cpp): net-level inputs as one Input layer."""
    if not (net.input_shape or net.input_dim):
        return []
    layer = caffe_pb2.LayerParameter(name="input", type="Input", top=list(net.input))
    for i in range(len(net.input)):
        dims = list(net.input_shape[i].dim) if net.input_shape else list(net.input_dim[4 * i:4 * i + 4])
        layer.input_param.shape.add(dim=dims)
    return [layer]


def _included(layer, state) -> bool:
    """Net::FilterNet / StateMeetsRule (src/caffe/net.cpp): include rules or exclude rules, not both."""
    if layer.include and layer.exclude:
        raise ShapeError(f"layer '{layer.name}': specify either include rules or exclude rules; not both", layer.name)
    if not layer.include:
        return not any(_meets(state, r) for r in layer.exclude)
    return any(_meets(state, r) for r in layer.include)


def _meets(state, r) -> bool:
    if r.HasField("phase") and r.phase != state.phase:
        return False
    if r.HasField("min_level") and state.level < r.min_level:
        return False
    if r.HasField("max_level") and state.level > r.max_level:
        return False
    stages = set(state.stage)
    return all(s in stages for s in r.stage) and not any(s in stages for s in r.not_stage)
