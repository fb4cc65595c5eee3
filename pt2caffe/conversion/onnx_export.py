"""An ONNX file to its net: the ONNX front end's op graph through the same pipeline as a torch model
(pt2caffe.conversion.pipeline), and the report's ONNX fields."""
from __future__ import annotations

import os
from typing import Callable

from ..frontends.onnx.interpreter import OnnxModule
from ..frontends.onnx.trace import trace_onnx
from ..lowering.registry import is_atomic
from .pipeline import Conversion, convert_graphs


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
