"""Write the net's caffemodel binary (and read the export id back from one).

The caffemodel is a NetParameter whose layers carry BlobProto weights. Layer
headers are serialised by protobuf; each blob's float data is written by hand
as one packed field straight from the array's buffer, so weights go to disk in
bulk at disk speed with no per-element Python and no copy of the model.
"""
from __future__ import annotations

from typing import BinaryIO

import numpy as np

from ..errors import Pt2CaffeError
from . import caffe_pb2
from .builder import NetBuilder

_LEN = 2  # protobuf wire type for length-delimited fields
_NET_LAYER_FIELD = 100  # NetParameter.layer
_LAYER_BLOBS_FIELD = 7  # LayerParameter.blobs
_BLOB_SHAPE_FIELD = 7  # BlobProto.shape
_BLOB_DATA_FIELD = 5  # BlobProto.data (packed float)
EXPORT_ID_FIELD = 536_870_911  # the highest field number protobuf allows: no caffe.proto declares it
PROTOBUF_LIMIT = 2 ** 31 - 1  # bytes; Caffe's kProtoReadBytesLimit (INT_MAX)


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


def _blob_head(array: np.ndarray) -> bytes:
    """A BlobProto record up to its packed float data: key, length, shape, data key and data length.

    Made from the shape alone: sizes are known before any weight is touched.
    """
    shape = caffe_pb2.BlobShape(dim=list(array.shape)).SerializeToString()
    body_head = _key(_BLOB_SHAPE_FIELD) + _varint(len(shape)) + shape + _data_head(array.size)
    return _key(_LAYER_BLOBS_FIELD) + _varint(len(body_head) + array.size * 4) + body_head


def _data_head(count: int) -> bytes:
    """The key and length of BlobProto.data holding ``count`` packed float32 values."""
    return _key(_BLOB_DATA_FIELD) + _varint(count * 4)


def set_blob_data(blob: caffe_pb2.BlobProto, array: np.ndarray) -> None:
    """Replace ``blob.data`` with ``array``'s values (any shape, as float32) in bulk: one packed field merged by
    protobuf's C parser. Assigning a list or array to the repeated field converts element by element (2M floats:
    0.1–0.4 s; merged: under 0.01 s, measured with protobuf's upb backend)."""
    values = np.ascontiguousarray(array, dtype="<f4")
    blob.ClearField("data")
    blob.MergeFromString(_data_head(values.size) + values.tobytes())


def caffemodel_pieces(net: NetBuilder, proto: caffe_pb2.NetParameter, export_id: str = "") -> list:
    """The caffemodel of ``net`` as pieces in file order: ``bytes`` for headers, float arrays for weight data.

    The layer headers come from ``proto`` (net_proto(net)). Only layers with weights are written: Caffe
    copies weights by layer name. ``export_id`` goes into a field no Caffe declares (EXPORT_ID_FIELD,
    right after the net's name), which protobuf readers skip; read it back with read_export_id().
    """
    head = caffe_pb2.NetParameter(name=net.name).SerializeToString()
    if export_id:
        head += _key(EXPORT_ID_FIELD) + _varint(len(export_id.encode())) + export_id.encode()
    pieces = [head]
    for layer, layer_header in zip(net.layers, proto.layer):
        if not layer.weights:
            continue
        header = layer_header.SerializeToString()
        blob_heads = [_blob_head(weight.array) for weight in layer.weights]
        size = len(header) + sum(len(blob) + weight.array.size * 4 for blob, weight in zip(blob_heads, layer.weights))
        pieces.append(_key(_NET_LAYER_FIELD) + _varint(size) + header)
        for blob, weight in zip(blob_heads, layer.weights):
            pieces += [blob, weight.array]
    return pieces


def pieces_size(pieces: list) -> int:
    """Bytes the pieces of caffemodel_pieces() take on disk (no weight is read)."""
    return sum(len(piece) if isinstance(piece, bytes) else piece.size * 4 for piece in pieces)


def check_caffemodel_size(size: int, path: str) -> None:
    """Refuse a caffemodel that no Caffe can read: protobuf parses at most PROTOBUF_LIMIT bytes per message
    (Caffe's ReadProtoFromBinaryFile sets ``kProtoReadBytesLimit = INT_MAX``, src/caffe/util/io.cpp)."""
    if size > PROTOBUF_LIMIT:
        raise Pt2CaffeError(f"{path} would be {size:,} bytes ({size / 2 ** 30:.2f} GiB), over protobuf's message "
                            f"limit of {PROTOBUF_LIMIT:,} bytes (2 GiB) that Caffe reads weights with: "
                            "nothing was written")


def write_caffemodel(pieces: list, out: BinaryIO) -> None:
    """Write caffemodel_pieces(): each weight goes to disk straight from its buffer."""
    for piece in pieces:
        out.write(piece if isinstance(piece, bytes) else memoryview(np.ascontiguousarray(piece, dtype="<f4")).cast("B"))


def read_export_id(path: str) -> str | None:
    """The export id a caffemodel carries (see caffemodel_pieces), read from its first bytes; None if none."""
    with open(path, "rb") as handle:
        data = handle.read(1 << 16)
    at = 0
    try:
        while at < len(data):
            key, at = _read_varint(data, at)
            field, wire_type = key >> 3, key & 7
            if wire_type != _LEN or field == _NET_LAYER_FIELD:
                return None
            length, at = _read_varint(data, at)
            if field == EXPORT_ID_FIELD:
                return data[at:at + length].decode("utf-8", "replace")
            at += length
    except IndexError:
        pass
    return None


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    number, shift = 0, 0
    while True:
        byte = data[at]
        number |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return number, at
