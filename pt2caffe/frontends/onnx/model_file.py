"""Reading an ONNX file: the model, its external data (only from beside it), its opset, producer and digest."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import onnx
from onnx import external_data_helper

from ...errors import Pt2CaffeError, one_line, short

MIN_OPSET, MAX_OPSET = 7, 21  # the versions of the default ONNX domain the converters implement


@dataclass
class OnnxFile:
    """A parsed model: ``opset`` is its default-domain version after any conversion (``original_opset``
    before it), ``digest`` the sha256 of the file's bytes, ``producer`` its producer name and version."""

    path: str
    model: onnx.ModelProto
    opset: int
    original_opset: int
    producer: str
    digest: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def _tensors(graph: onnx.GraphProto):
    """Every tensor a graph holds: initializers and tensor attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def _check_external_data(model: onnx.ModelProto, path: str) -> None:
    """Refuse external data that is not a file inside the model's own folder (absolute paths, ``..``, and
    symbolic links leading out are resolved first), before anything is read."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for tensor in _tensors(model.graph):
        if not external_data_helper.uses_external_data(tensor):
            continue
        location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
        target = os.path.realpath(os.path.join(folder, location))
        if os.path.isabs(location) or os.path.commonpath([folder, target]) != folder:
            raise Pt2CaffeError(f"{path}: initializer {short(tensor.name)} keeps its data in {short(location)}, "
                                "outside the model's folder: external data is read only from beside the model file")
        if not os.path.isfile(target):
            raise Pt2CaffeError(f"{path}: initializer {short(tensor.name)} keeps its data in {short(location)}, "
                                "which is not a file beside the model")


def read(path: str) -> OnnxFile:
    """Parse ``path`` with its external data; convert opsets outside 7–21 with onnx's version converter.

    Raises Pt2CaffeError (one line) for a missing or unparsable file, external data outside the model's
    folder, no default-domain opset, or an opset the converter cannot bring into range.
    """
    if not os.path.isfile(path):
        raise Pt2CaffeError(f"model file not found: {path}")
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        model = onnx.load_from_string(data)
    except Exception as error:  # noqa: BLE001 (protobuf's DecodeError, and others for other garbage)
        raise Pt2CaffeError(f"{path} is not an ONNX model: {type(error).__name__}: {one_line(str(error), 200)}") from None
    _check_external_data(model, path)
    try:
        external_data_helper.load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))
    except OSError as error:
        raise Pt2CaffeError(f"{path}: cannot read its external data: {error.strerror or error}") from None
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise Pt2CaffeError(f"{path} imports no version of the standard ONNX operator set")
    converted = _in_range(model, opset, path)
    producer = " ".join(filter(None, [model.producer_name, model.producer_version])) or "unknown"
    return OnnxFile(path, converted, min(max(opset, MIN_OPSET), MAX_OPSET), opset, producer,
                    hashlib.sha256(data).hexdigest())


def _in_range(model: onnx.ModelProto, opset: int, path: str) -> onnx.ModelProto:
    """``model`` itself when its opset is 7–21, else converted to the nearest end of that range."""
    if MIN_OPSET <= opset <= MAX_OPSET:
        return model
    target = MIN_OPSET if opset < MIN_OPSET else MAX_OPSET
    try:
        from onnx import version_converter
        return version_converter.convert_version(model, target)
    except Exception as error:  # noqa: BLE001 (the converter raises RuntimeError and others)
        raise Pt2CaffeError(f"{path} uses opset {opset}; pt2caffe reads opsets {MIN_OPSET} to {MAX_OPSET} and onnx's "
                            f"version converter cannot bring it to {target}: {one_line(str(error), 200)}") from None
