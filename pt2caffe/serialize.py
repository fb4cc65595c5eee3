"""Write (and read) the net as prototxt text and caffemodel binary.

The caffemodel is a NetParameter whose layers carry BlobProto weights. Layer
headers are serialised by protobuf; each blob's float data is written by hand
as one packed field straight from the array's buffer, so weights go to disk in
bulk at disk speed with no per-element Python and no copy of the model.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
from contextlib import contextmanager
from typing import BinaryIO, Iterator

import numpy as np
from google.protobuf import text_format

from . import caffe_pb2
from .builder import Layer, NetBuilder
from .errors import Pt2CaffeError

_LEN = 2  # protobuf wire type for length-delimited fields
_NET_LAYER_FIELD = 100  # NetParameter.layer
_LAYER_BLOBS_FIELD = 7  # LayerParameter.blobs
_BLOB_SHAPE_FIELD = 7  # BlobProto.shape
_BLOB_DATA_FIELD = 5  # BlobProto.data (packed float)
EXPORT_ID_FIELD = 536_870_911  # the highest field number protobuf allows: no caffe.proto declares it
PROTOBUF_LIMIT = 2 ** 31 - 1  # bytes; Caffe's kProtoReadBytesLimit (INT_MAX)


def _scalar(field, value):
    """A dict value as the field's Python value: enum names → numbers, numpy scalars → Python."""
    if isinstance(value, np.generic):
        value = value.item()
    if field.enum_type is not None and isinstance(value, str):
        return field.enum_type.values_by_name[value].number
    return value


def _is_repeated(field) -> bool:
    """protobuf ≥ 6 has FieldDescriptor.is_repeated (7 dropped ``label``); older ones only ``label``."""
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def _fill(message, fields: dict) -> None:
    """Set ``fields`` (snake_case names; enums by name; nested dicts for messages) on ``message``.

    What json_format.ParseDict does for our dicts, at a fraction of its cost: it was a third of the
    serialisation time of a 16,000-layer net. Raises KeyError, TypeError or ValueError on a bad field.
    """
    by_name = message.DESCRIPTOR.fields_by_name
    for key, value in fields.items():
        field = by_name[key]
        repeated = _is_repeated(field)
        if field.message_type is not None:
            target = getattr(message, key)
            if repeated:
                for item in value:
                    _fill(target.add(), item)
            else:
                target.SetInParent()  # an empty dict still switches the sub-message on
                _fill(target, value)
        elif repeated:
            getattr(message, key).extend([_scalar(field, item) for item in value])
        else:
            setattr(message, key, _scalar(field, value))


def _fill_layer(proto: caffe_pb2.LayerParameter, layer: Layer) -> caffe_pb2.LayerParameter:
    proto.name, proto.type = layer.name, layer.type
    proto.bottom.extend(layer.bottoms)
    proto.top.extend(layer.tops)
    try:
        _fill(proto, layer.params)
    except (KeyError, TypeError, ValueError) as error:
        raise Pt2CaffeError(f"internal: layer {layer.name} ({layer.type}) has invalid parameters: "
                            f"{type(error).__name__}: {error}") from None
    return proto


def layer_proto(layer: Layer) -> caffe_pb2.LayerParameter:
    """The LayerParameter of ``layer`` without its weight blobs."""
    return _fill_layer(caffe_pb2.LayerParameter(), layer)


def net_proto(net: NetBuilder) -> caffe_pb2.NetParameter:
    """The NetParameter of ``net`` (layers in order, no weight blobs): the prototxt's content."""
    proto = caffe_pb2.NetParameter(name=net.name)
    for layer in net.layers:
        _fill_layer(proto.layer.add(), layer)
    return proto


def prototxt_text(proto: caffe_pb2.NetParameter) -> str:
    """The prototxt of ``proto``: protobuf's text format.

    ``str()`` is the C text encoder of the upb/cpp protobuf runtimes (text_format.MessageToString is
    pure Python, 6× slower: a quarter of the export time of a 16,000-layer net). It writes floats with
    9 significant digits (``0.333333343``) and integral ones without ``.0``; every reader parses both
    to the same float32. Under the pure-Python runtime ``str()`` is MessageToString itself.
    """
    return str(proto)


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
    nbytes = array.size * 4
    body_head = _key(_BLOB_SHAPE_FIELD) + _varint(len(shape)) + shape + _key(_BLOB_DATA_FIELD) + _varint(nbytes)
    return _key(_LAYER_BLOBS_FIELD) + _varint(len(body_head) + nbytes) + body_head


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


PROTOTXT_ID_PREFIX = "# pt2caffe export "


def prototxt_export_id(path: str) -> str | None:
    """The export id in a prototxt's leading ``#`` comment lines (``# pt2caffe export ID``), None if none."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for _ in range(200):
            line = handle.readline(500).strip()
            if not line.startswith("#"):
                return None
            if line.startswith(PROTOTXT_ID_PREFIX):
                return line[len(PROTOTXT_ID_PREFIX):]
    return None


def read_prototxt(path: str) -> caffe_pb2.NetParameter:
    try:
        with open(path, encoding="utf-8") as handle:
            return text_format.Parse(handle.read(), caffe_pb2.NetParameter())
    except OSError as error:
        raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
    except text_format.ParseError as error:
        raise Pt2CaffeError(f"{path}:{error}") from None


def json_text(document: dict) -> str:
    """``document`` as JSON with one top-level key per line and one line per item of a top-level list.

    Still readable and diffable, and written by json's C encoder (``indent`` switches to its pure-Python
    one, which took a fifth of the export time of a 16,000-op net). NaN/inf are written as JSON's
    NaN/Infinity extensions, as json.dump does.
    """
    lines = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            text = "[\n  " + ",\n  ".join(json.dumps(item) for item in value) + "\n ]"
        else:
            text = json.dumps(value)
        lines.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


TEMP_PREFIX = ".tmp-pt2caffe-"
_TEMP_NAME = re.compile(r"^\.tmp-pt2caffe-([0-9a-f]{8})-(\d+)-")


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def remove_stale_temps(directory: str) -> None:
    """Delete the temporary files a killed pt2caffe left in ``directory`` (hidden, possibly hundreds of MB).

    Only our own pattern (``.tmp-pt2caffe-HOST-PID-…``), and only when PID no longer runs on this host:
    the temporary files of a concurrent export, here or on another machine sharing the folder, stay.
    """
    host = _host_tag()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match and match[1] == host and _process_gone(int(match[2])):
            try:
                os.unlink(entry.path)
            except OSError:
                pass  # gone already (another export cleaned it) or not ours to remove


@contextmanager
def atomic_files(paths: list[str]) -> Iterator[list[str]]:
    """Temporary paths beside ``paths``; renamed into place only if the block succeeds.

    No partial output is ever left behind: on any error every temporary file is removed, and the
    leftovers of a killed earlier run in the same folders are removed first (remove_stale_temps).
    The renames are one by one: a crash between them can leave files of two runs, which is why an
    export's files carry a shared export id (checked by ``pt2caffe check``).
    """
    temps = []
    prefix = f"{TEMP_PREFIX}{_host_tag()}-{os.getpid()}-"
    try:
        for directory in dict.fromkeys(os.path.dirname(os.path.abspath(path)) for path in paths):
            remove_stale_temps(directory)
        for path in paths:
            directory = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(directory, exist_ok=True)
                fd, temp = tempfile.mkstemp(prefix=prefix, suffix="-" + os.path.basename(path), dir=directory)
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
