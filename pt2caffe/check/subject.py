"""What ``check`` checks: the model and how to load it, the Caffe files (the three files of one export,
by their export id) and the report if there is one; and the Caffe net as given."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..conversion.report import source_path
from ..errors import Pt2CaffeError, short
from ..frontends.onnx.inputs import refuse_torch_options
from ..frontends.torch.shapes import parse_shape
from ..net.caffemodel import read_export_id
from ..net.proto import prototxt_export_id, read_prototxt


@dataclass
class Subject:
    """What is checked: the model, how to load it, the Caffe files and the report if there is one."""

    model: str
    weights: str | None  # None for an ONNX model (its weights are inside)
    entry: str
    input_shapes: list[str] | None  # as --input-shape texts; None: from MODEL.py
    unsafe_pickle: bool
    non_strict: bool
    prototxt: str
    caffemodel: str
    report: dict | None  # NAME.json's content, None when the mapping is made in memory
    prefix: str  # PREFIX.check.svg is drawn here
    format: str = "torch"  # "onnx": ``model`` is an ONNX file (no weights file)


def _from_report(path: str, args) -> Subject:
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except OSError as error:
        raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Pt2CaffeError(f"{path} is not a pt2caffe report: {error}") from None
    if not isinstance(report, dict):
        raise Pt2CaffeError(f"{path} is not a pt2caffe report: it holds a JSON {type(report).__name__}, not an object")
    source = report.get("source") or {}
    if not isinstance(source, dict) or not isinstance(report.get("blobs"), list) or not source.get("model"):
        raise Pt2CaffeError(f"{path} does not say which model it was exported from (no 'source'): "
                            "check MODEL.py WEIGHTS.pth --prototxt NET.prototxt --caffemodel NET.caffemodel")
    recorded = [",".join(str(d) for d in shape) for shape in source.get("input_shapes", [])]
    if args.input_shape and [parse_shape(t) for t in args.input_shape] != [parse_shape(t) for t in recorded]:
        raise Pt2CaffeError(f"--input-shape {' '.join(args.input_shape)} differs from the export's "
                            f"{' '.join(recorded)}: export again with `pt2caffe run ... --input-shape`")
    directory = os.path.dirname(os.path.abspath(path))
    files = report.get("files", {})
    onnx = source.get("format") == "onnx"
    _same_export(path, report.get("export_id"), None if args.prototxt else os.path.join(directory, files.get("prototxt", "")),
                 None if args.caffemodel else os.path.join(directory, files.get("caffemodel", "")))
    return _existing(Subject(  # loading options from the command line only: a report cannot switch off safety
        source_path(path, source, "model"), None if onnx else source_path(path, source, "weights"),
        source.get("entry", "build_model"), recorded or None,
        args.unsafe_pickle, args.non_strict,
        args.prototxt or os.path.join(directory, files.get("prototxt", "")),
        args.caffemodel or os.path.join(directory, files.get("caffemodel", "")),
        report, os.path.splitext(os.path.abspath(path))[0], "onnx" if onnx else "torch"))


def _same_export(report_path: str, export_id, prototxt: str | None, caffemodel: str | None) -> None:
    """Refuse a prototxt or caffemodel from another run than NAME.json (two exports to one name that
    overlapped, or a file copied over): the three files of one export share its export id."""
    if not export_id:
        return  # a report from before export ids
    for path, read in ((prototxt, prototxt_export_id), (caffemodel, read_export_id)):
        if path is None or not os.path.isfile(path):
            continue
        try:
            found = read(path)
        except OSError as error:
            raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
        if found != export_id:
            raise Pt2CaffeError(f"{path} is not from the same export as {report_path} (export id "
                                f"{short(found) if found else 'missing'}, the report's {short(export_id)}): "
                                "export again, or name the file with --prototxt / --caffemodel")


def subject_of(args) -> Subject:
    """NAME.json alone, MODEL.py WEIGHTS.pth or MODEL.onnx with --prototxt and --caffemodel."""
    sources = args.sources
    if len(sources) == 1 and sources[0].endswith(".json"):
        return _from_report(sources[0], args)
    if sources[0].lower().endswith(".onnx"):
        return _onnx_model(sources, args)
    if len(sources) != 2 or sources[0].endswith(".json"):
        raise Pt2CaffeError("check takes NAME.json (from `pt2caffe run`), MODEL.py WEIGHTS.pth or MODEL.onnx")
    if not (args.prototxt and args.caffemodel):
        raise Pt2CaffeError("check MODEL.py WEIGHTS.pth needs --prototxt and --caffemodel (or give NAME.json)")
    return _existing(Subject(
        sources[0], sources[1], args.entry, args.input_shape, args.unsafe_pickle, args.non_strict,
        args.prototxt, args.caffemodel, None,
        os.path.splitext(os.path.abspath(args.prototxt))[0]))


def _onnx_model(sources: list[str], args) -> Subject:
    """MODEL.onnx with --prototxt and --caffemodel: a net pt2caffe exported from the file, checked without its
    NAME.json; the mapping is made in memory, at --input-shape or the file's declared dims."""
    if len(sources) != 1:
        raise Pt2CaffeError(f"check {sources[0]} takes no weights file: an ONNX file holds its weights")
    refuse_torch_options(args, "check")
    if not (args.prototxt and args.caffemodel):
        raise Pt2CaffeError("check MODEL.onnx needs --prototxt and --caffemodel (or give NAME.json)")
    return _existing(Subject(sources[0], None, args.entry, args.input_shape, False, False, args.prototxt,
                             args.caffemodel, None, os.path.splitext(os.path.abspath(args.prototxt))[0], "onnx"))


def _existing(subject: Subject) -> Subject:
    """Say which file is missing before minutes of loading and tracing."""
    for kind, path in (("model", subject.model), ("weights", subject.weights), ("prototxt", subject.prototxt),
                       ("caffemodel", subject.caffemodel)):
        if path is not None and not os.path.isfile(path):
            raise Pt2CaffeError(f"{kind} file not found: {path}")
    return subject


# --- the Caffe net as given ---------------------------------------------------------------------

@dataclass
class CaffeNet:
    proto: object  # caffe_pb2.NetParameter
    producer: dict  # top → its (last) LayerParameter
    order: dict  # layer name → position
    inputs: list[str]


def caffe_net(prototxt: str) -> CaffeNet:
    proto = read_prototxt(prototxt)
    producer = {top: layer for layer in proto.layer for top in layer.top}
    inputs = list(proto.input) + [top for layer in proto.layer if layer.type == "Input" for top in layer.top]
    return CaffeNet(proto, producer, {layer.name: i for i, layer in enumerate(proto.layer)}, inputs)
