"""Write (and read) the net as prototxt text and caffemodel binary.

The caffemodel is a NetParameter whose layers carry BlobProto weights. Layer
headers are serialised by protobuf; each blob's float data is written by hand
as one packed field straight from the array's buffer, so weights go to disk in
bulk at disk speed with no per-element Python and no copy of the model.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import BinaryIO, Iterator

import numpy as np
from google.protobuf import json_format, text_format

from . import caffe_pb2
from .builder import Layer, NetBuilder
from .errors import Pt2CaffeError

_LEN = 2  # protobuf wire type for length-delimited fields
_NET_LAYER_FIELD = 100  # NetParameter.layer
_LAYER_BLOBS_FIELD = 7  # LayerParameter.blobs
_BLOB_SHAPE_FIELD = 7  # BlobProto.shape
_BLOB_DATA_FIELD = 5  # BlobProto.data (packed float)


def _plain(obj):
    """numpy scalars and tuples → Python values that json_format accepts."""
    if isinstance(obj, dict):
        return {key: _plain(item) for key, item in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(item) for item in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def layer_proto(layer: Layer) -> caffe_pb2.LayerParameter:
    """The LayerParameter of ``layer`` without its weight blobs."""
    fields = {"name": layer.name, "type": layer.type, "bottom": layer.bottoms, "top": layer.tops}
    fields.update(_plain(layer.params))
    try:
        return json_format.ParseDict(fields, caffe_pb2.LayerParameter())
    except json_format.ParseError as error:
        raise Pt2CaffeError(f"internal: layer {layer.name} ({layer.type}) has invalid parameters: {error}") from None


def net_proto(net: NetBuilder) -> caffe_pb2.NetParameter:
    proto = caffe_pb2.NetParameter(name=net.name)
    proto.layer.extend(layer_proto(layer) for layer in net.layers)
    return proto


def prototxt_text(net: NetBuilder) -> str:
    return text_format.MessageToString(net_proto(net))


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field_number: int) -> bytes:
    return _varint(field_number << 3 | _LEN)


def _blob_parts(array: np.ndarray) -> list[bytes | memoryview]:
    """A BlobProto record (key, length, shape, packed data) as pieces to write in order."""
    shape = caffe_pb2.BlobShape(dim=list(array.shape)).SerializeToString()
    data = memoryview(np.ascontiguousarray(array, dtype="<f4")).cast("B")
    body_head = _key(_BLOB_SHAPE_FIELD) + _varint(len(shape)) + shape + _key(_BLOB_DATA_FIELD) + _varint(data.nbytes)
    return [_key(_LAYER_BLOBS_FIELD) + _varint(len(body_head) + data.nbytes) + body_head, data]


def _write_layer(out: BinaryIO, layer: Layer) -> None:
    header = layer_proto(layer).SerializeToString()
    parts = [part for weight in layer.weights for part in _blob_parts(weight.array)]
    size = len(header) + sum(len(part) if isinstance(part, bytes) else part.nbytes for part in parts)
    out.write(_key(_NET_LAYER_FIELD) + _varint(size) + header)
    for part in parts:
        out.write(part)


def write_caffemodel(net: NetBuilder, out: BinaryIO) -> None:
    """Only layers with weights are written: Caffe copies weights by layer name."""
    out.write(caffe_pb2.NetParameter(name=net.name).SerializeToString())
    for layer in net.layers:
        if layer.weights:
            _write_layer(out, layer)


def read_prototxt(path: str) -> caffe_pb2.NetParameter:
    try:
        with open(path, encoding="utf-8") as handle:
            return text_format.Parse(handle.read(), caffe_pb2.NetParameter())
    except OSError as error:
        raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
    except text_format.ParseError as error:
        raise Pt2CaffeError(f"{path}:{error}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_files(paths: list[str]) -> Iterator[list[str]]:
    """Temporary paths beside ``paths``; renamed into place only if the block succeeds.

    No partial output is ever left behind: on any error every temporary file is removed.
    """
    temps = []
    try:
        for path in paths:
            directory = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(directory, exist_ok=True)
                fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
            except OSError as error:
                raise Pt2CaffeError(f"cannot write {path}: {error.strerror}") from None
            os.close(fd)
            os.chmod(temp, 0o666 & ~_umask())
            temps.append(temp)
        yield temps
        for temp, path in zip(temps, paths):
            os.replace(temp, path)
        temps = []
    finally:
        for temp in temps:
            if os.path.exists(temp):
                os.unlink(temp)


def write_files(contents: dict[str, str | bytes]) -> None:
    """Write each path's text or bytes, all or nothing (see atomic_files); one error line on failure."""
    try:
        with atomic_files(list(contents)) as temps:
            for temp, data in zip(temps, contents.values()):
                with open(temp, "wb") as handle:
                    handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as error:
        raise Pt2CaffeError(f"cannot write {', '.join(contents)}: {error.strerror}") from None
