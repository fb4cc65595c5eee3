"""Caffe's own blob shapes of a net as written: independent of how the net was built.

``infer_shapes(layers, inputs)`` walks the layers as stock SSD Caffe's Net::Init does (src/caffe/net.cpp:
FilterNet by phase, AppendBottom/AppendTop, then each layer's CheckBlobCounts, LayerSetUp and Reshape) and
applies each layer type's Reshape rule (one module per family: windows, axes, pointwise, sources; each
cites its .cpp). Where Caffe would abort (an unknown layer type or bottom, a CHECK failing), it raises
ShapeError naming the layer. Prototxts from users are read as Caffe reads them: net-level
``input``/``input_shape``/``input_dim`` become an Input layer first (util/upgrade_proto.cpp
UpgradeNetInput); V1 ``layers`` are refused (upgrade them with Caffe's upgrade_net_proto_text).
"""
from __future__ import annotations

from .rules import RULES, ShapeError
from .walk import LayerShapes, infer_shapes, layer_shapes

__all__ = ["infer_shapes", "layer_shapes", "LayerShapes", "ShapeError", "RULES"]
