"""An ONNX file to its net: the ONNX front end's op graph through the same pipeline as a torch model
(pt2caffe.conversion.pipeline), and the report's ONNX fields."""
from __future__ import annotations

import os
from typing import Callable

from ..errors import Pt2CaffeError
from ..frontends.onnx.inputs import input_specs, shapes_to_trace
from ..frontends.onnx.interpreter import OnnxModule
from ..frontends.onnx.model_file import OnnxFile, read
from ..frontends.onnx.trace import trace_onnx
from ..frontends.torch.shapes import random_inputs
from ..lowering.registry import is_atomic
from ..net.targets import TARGETS
from .pipeline import Conversion, convert_graphs
from .report import portable_paths
from .writing import write


def convert_onnx(module: OnnxModule, example_inputs, *, name: str | None = None, capture: bool = False,
                 probe_sizes: bool = True, finish: Callable[[Conversion], None] | None = None,
                 target=None) -> Conversion:
    """Trace ``module`` (an ONNX model) on ``example_inputs`` and build the Caffe net, as
    :func:`pt2caffe.conversion.pipeline.convert` does for a torch model (``target`` likewise). The net's inputs are named after
    the ONNX inputs; the report gains the ONNX fields of :func:`onnx_fields`."""
    def graph_of(inputs, keep: bool):
        return trace_onnx(module, inputs, capture=keep, is_atomic=is_atomic)

    conversion = convert_graphs(graph_of, example_inputs, name or default_name(module.source.path),
                                list(module.input_names), capture=capture, probe_sizes=probe_sizes, finish=finish,
                                target=target)
    conversion.describe = lambda report: onnx_fields(report, module, conversion)
    return conversion


def default_name(path: str) -> str:
    """The net's (and files') name: the model file's name without ``.onnx``."""
    return os.path.splitext(os.path.basename(path))[0] or "model"


def onnx_fields(report: dict, module: OnnxModule, conversion: Conversion) -> None:
    """Add to ``report`` what an ONNX export has beyond a torch one: per input and output its ONNX name (the
    outputs' "torch" is None); ``onnx_outputs``, the Caffe blob of every ONNX graph output (also those that an
    SSD head reads instead of leaving them net outputs), which check compares with onnxruntime; per layer and compared blob its ``onnx_node`` (name and op_type; None for
    layers pt2caffe added, like inputs and size guards), and ``initializers``: every initializer → the Caffe blobs made
    from it, with their transform (empty for an initializer no blob holds, e.g. a shape)."""
    for entry, name in zip(report["inputs"], module.input_names):
        entry["onnx"] = name
    for entry in report["outputs"]:
        entry["onnx"], entry["torch"] = entry["torch"], None
    report["onnx_outputs"] = [{"onnx": name, "blob": conversion.blobs[value.index].name, "shape": list(value.shape)}
                              for value, name in zip(conversion.graph.outputs, module.output_names)
                              if value.index in conversion.blobs]
    nodes = {ctx.label: {"name": ctx.node.name or ctx.label, "op_type": ctx.op_type}
             for ctx in module.node_contexts().values()}
    for entry in report["layers"] + report["blobs"]:
        entry["onnx_node"] = nodes.get(entry["module"])
    made = {name: [] for name, _ in module.named_buffers()}
    for weight in report["weights"]:
        for name in (weight["torch"] or "").split(", "):
            if name in made:
                made[name].append({"layer": weight["layer"], "blob": weight["blob"], "transform": weight["transform"]})
    report["initializers"] = made


def provenance(source: OnnxFile, shapes, outdir: str, ssd: str | None = None) -> dict:
    """The report's ``source`` for an export of ``source`` whose report goes to folder ``outdir``: the file, its
    format, opset (as read and as converted), producer and sha256 digest, the input shapes and the SSD config (a
    path, or None), so that ``pt2caffe check NAME.json`` can redo the export alone. The files are relative to
    ``outdir``, with their absolute paths beside (pt2caffe.conversion.report.portable_paths)."""
    files = portable_paths({"model": source.path, "ssd": ssd}, outdir)
    return {"model": files["model"], "format": "onnx", "opset": source.opset,
            "original_opset": source.original_opset, "producer": source.producer, "sha256": source.digest,
            "input_shapes": [list(shape) for shape in shapes], "ssd": files["ssd"], "absolute": files["absolute"]}


def export_onnx(path: str, path_prefix: str, input_shapes=None, *, name: str | None = None,
                target: str | None = None) -> dict:
    """Export the ONNX file ``path`` to ``path_prefix``.prototxt/.caffemodel/.json (all or nothing) and return the
    report, the JSON's content: what ``pt2caffe run MODEL.onnx`` does for one set of input shapes.

    ``input_shapes``: the size to export for, one shape (a sequence of ints, e.g. N, C, H, W) per graph input that
    is not an initializer — a list in the inputs' order, or a dict {ONNX input name: shape}; None, or an input
    left out of the dict, takes the file's declared dims. The net is exact at that size (the report's
    ``input_sizes`` says which other sizes it is valid for). ``name``: the net's name (default: the file's name
    without ``.onnx``). ``target``: a name in :data:`pt2caffe.net.targets.TARGETS` (the forms and rules of
    that runtime, as ``run --target``), or None for the default.

    The report records the file (``source``: path, opset, producer, sha256, input shapes), each layer's ONNX
    node and every initializer's Caffe blobs (README, "ONNX models"), so ``pt2caffe check PREFIX.json``
    compares the files with the front end blob by blob and with onnxruntime on the outputs.

    Raises :class:`pt2caffe.errors.Pt2CaffeError`, one line each, before anything is written: a file onnx cannot
    parse or whose external data lie outside its folder, a symbolic dim not given or a shape that contradicts
    a declared one, a non-float input, an unknown target, a node without a converter or whose shapes follow the
    input's values (naming the node, its op_type and opset); and when writing fails (old files left as they
    were).
    """
    if target is not None and target not in TARGETS:
        raise Pt2CaffeError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
    source = read(path)
    module = OnnxModule(source).eval()
    shapes = shapes_to_trace(path, input_specs(source.model), _shape_texts(input_shapes))
    conversion = convert_onnx(module, random_inputs(shapes), name=name or default_name(path),
                              target=TARGETS[target] if target else None)
    return write(conversion, path_prefix, provenance(source, shapes, os.path.dirname(os.path.abspath(path_prefix))))


def _shape_texts(input_shapes) -> list[str] | None:
    """``input_shapes`` as ``--input-shape`` texts (positional, or NAME=dims for a dict)."""
    if input_shapes is None:
        return None
    if isinstance(input_shapes, dict):
        return [f"{name}={','.join(map(str, shape))}" for name, shape in input_shapes.items()]
    return [",".join(map(str, shape)) for shape in input_shapes]
