"""The user's Caffe net as the importer walks it: layers in order with single-assignment blob names and
their learned blobs as arrays.

A Caffe layer may write its bottom in place (``ReLU`` with top = bottom): every top gets a version
(``conv1``, then ``conv1#1`` after the in-place ReLU …), so each name holds one value, as in the
traced PyTorch graph. Layers Caffe runs only in the TRAIN phase are left out; Dropout and Split are
identities at test time (Caffe: dropout_layer.cpp, split_layer.cpp). A net input that only recurrent
layers read as their second bottom is a sequence marker (Caffe's ``cont``: recurrent_layer.cpp), not
data: it is kept apart from the inputs the PyTorch model is fed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import Pt2CaffeError
from ..net import caffe_pb2
from ..net.proto import read_prototxt

RECURRENT = ("LSTM", "RNN")  # Caffe's recurrent layers: bottoms x, cont[, x_static][, h_0 …]


@dataclass(eq=False)
class CaffeLayer:
    """One layer: ``bottoms``/``tops`` are versioned blob names, ``blobs`` its learned arrays (Caffe layout)."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    proto: caffe_pb2.LayerParameter
    blobs: list[np.ndarray] = field(default_factory=list)
    sources: list = field(default_factory=list)  # PyTorch side only: the Weight of each blob
    origin: str = ""  # PyTorch side only: "module (file:line)"


@dataclass
class CaffeNet:
    """Layers in execution order, the input blobs (versioned names) and their shapes, and the sequence
    markers (``cont`` inputs of recurrent layers) with their declared shapes."""

    layers: list[CaffeLayer]
    inputs: list[str]
    input_shapes: list[tuple[int, ...]]
    markers: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def producer(self) -> dict[str, CaffeLayer]:
        return {top: layer for layer in self.layers for top in layer.tops}


def plain_name(versioned: str) -> str:
    """``conv1#2`` → the name pt2caffe gives that value in the single-assignment prototxt (``conv1__v2``)."""
    name, _, version = versioned.partition("#")
    return name if version in ("", "0") else f"{name}__v{version}"


def _blob_array(blob: caffe_pb2.BlobProto, where: str) -> np.ndarray:
    """A BlobProto's values in its shape; legacy blobs give (num, channels, height, width)."""
    dims = tuple(blob.shape.dim) if blob.HasField("shape") else (blob.num, blob.channels, blob.height, blob.width)
    values = np.asarray(blob.double_data if len(blob.double_data) else blob.data, dtype=np.float32)
    if values.size != int(np.prod(dims)):
        raise Pt2CaffeError(f"{where}: the caffemodel blob holds {values.size} values for shape "
                            f"{'x'.join(map(str, dims))}")
    return values.reshape(dims)


def read_caffemodel(path: str) -> dict[str, list[np.ndarray]]:
    """Layer name → learned blobs of a binary NetParameter (new-style ``layer`` or V1 ``layers``)."""
    model = caffe_pb2.NetParameter()
    try:
        with open(path, "rb") as handle:
            model.ParseFromString(handle.read())
    except OSError as error:
        raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
    except DecodeError:
        raise Pt2CaffeError(f"{path} is not a caffemodel (not a binary Caffe NetParameter)") from None
    layers = list(model.layer) or list(model.layers)
    if not layers:
        raise Pt2CaffeError(f"{path} holds no layers: not a caffemodel")
    return {layer.name: [_blob_array(blob, f"{path}: layer {layer.name}") for blob in layer.blobs]
            for layer in layers}


def _inputs(net: caffe_pb2.NetParameter, path: str) -> list[tuple[str, tuple[int, ...]]]:
    """The net inputs in all three spellings: ``input`` + ``input_shape``, ``input`` + ``input_dim``, Input."""
    found = []
    for i, name in enumerate(net.input):
        if i < len(net.input_shape):
            found.append((name, tuple(net.input_shape[i].dim)))
        else:
            found.append((name, tuple(net.input_dim[4 * i:4 * i + 4])))
    for layer in net.layer:
        if layer.type == "Input":
            shapes = list(layer.input_param.shape)
            for j, top in enumerate(layer.top):
                shape = shapes[j] if j < len(shapes) else (shapes[0] if shapes else None)
                found.append((top, tuple(shape.dim) if shape is not None else ()))
    if not found:
        raise Pt2CaffeError(f"{path} declares no input (no input: field and no Input layer)")
    return found


def _runs_in_test(layer: caffe_pb2.LayerParameter) -> bool:
    """Caffe's NetStateRule check for phase TEST (net.cpp FilterNet), phase rules only."""
    if any(rule.HasField("phase") and rule.phase == caffe_pb2.TEST for rule in layer.exclude):
        return False
    return not layer.include or any(not rule.HasField("phase") or rule.phase == caffe_pb2.TEST
                                    for rule in layer.include)


def read_net(prototxt: str, caffemodel: str) -> CaffeNet:
    """The user's deploy net with its weights (Pt2CaffeError naming the file and layer when unusable)."""
    net = read_prototxt(prototxt)
    if len(net.layers):
        raise Pt2CaffeError(f"{prototxt} uses the V1 'layers' format: upgrade it with Caffe's "
                            "upgrade_net_proto_text tool first")
    weights = read_caffemodel(caffemodel)
    inputs = _inputs(net, prototxt)
    version = {name: 0 for name, _ in inputs}
    layers = []
    for layer in net.layer:
        if layer.type == "Input" or not _runs_in_test(layer):
            continue
        missing = [b for b in layer.bottom if b not in version]
        if missing:
            raise Pt2CaffeError(f"{prototxt}: layer {layer.name} reads blob {missing[0]}, which no earlier layer writes")
        bottoms = [_versioned(b, version) for b in layer.bottom]
        tops = []
        for top in layer.top:
            version[top] = version[top] + 1 if top in version else 0
            tops.append(_versioned(top, version))
        layers.append(CaffeLayer(layer.name, layer.type, bottoms, tops, layer, weights.get(layer.name, [])))
    markers = _markers(layers, inputs)
    data = [(name, shape) for name, shape in inputs if name not in markers]
    return CaffeNet(layers, [name for name, _ in data], [shape for _, shape in data], markers)


def _markers(layers: list[CaffeLayer], inputs: list[tuple[str, tuple[int, ...]]]) -> dict[str, tuple[int, ...]]:
    """Inputs read only as bottom 1 of LSTM/RNN layers: ``cont`` (recurrent_layer.cpp: T × N, 0 where a
    sequence starts)."""
    uses = {}
    for layer in layers:
        for position, bottom in enumerate(layer.bottoms):
            uses.setdefault(bottom, []).append(layer.type in RECURRENT and position == 1)
    return {name: shape for name, shape in inputs if uses.get(name) and all(uses[name])}


def _versioned(name: str, version: dict[str, int]) -> str:
    return name if version[name] == 0 else f"{name}#{version[name]}"
