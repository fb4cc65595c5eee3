"""``trace_onnx``: record an OnnxModule's run with the torch front end's tracer, then name every op after the
ONNX node it came from."""
from __future__ import annotations

from typing import Callable

from torch import nn

from ...graph import Graph
from ..torch.trace import trace
from .interpreter import OnnxModule


def trace_onnx(module: OnnxModule, inputs, *, capture: bool = False,
               is_atomic: Callable[[nn.Module], bool] = lambda module: False) -> Graph:
    """The op graph of ``module`` run on ``inputs`` (see pt2caffe.frontends.torch.trace).

    Every op recorded inside a node gets the node's label as module path and name (so Caffe layers are
    named after the node) and ``source`` ``"FILE: node INDEX (OP_TYPE, opset N)"``; the op producing a graph
    output is named after that output, and ``graph.output_paths`` are the ONNX output names.
    """
    graph = trace(module, inputs, capture=capture, is_atomic=is_atomic)
    contexts = module.node_contexts()
    for op in graph.ops:
        ctx = contexts.get(op.module_path)
        if ctx is not None:
            op.module_path = op.name = ctx.label
            op.source = ctx.source
    for value, name in zip(graph.outputs, module.output_names):
        if value.producer is not None and len(value.producer.outputs) == 1:
            value.producer.name = name
    graph.output_paths = list(module.output_names)
    return graph
