"""``OnnxModule``: an nn.Module that runs an ONNX model's graph with the converters (pt2caffe.frontends.onnx)."""
from __future__ import annotations

import numpy as np
import torch
from onnx import numpy_helper
from torch import nn

from .blocks import Block, IfModule, NodeModule, read_values
from .inputs import input_specs
from .model_file import OnnxFile
from .registry import NodeContext


class OnnxModule(nn.Module):
    """Runs ``source``'s graph: ``forward(*inputs)`` → tuple of the graph outputs, in the graph's order.

    Initializers are buffers (so ``.double()`` converts them) and :meth:`named_buffers` yields them under
    their ONNX names: the tracer names its constants after those, so the weight report names the
    initializer each Caffe blob was made from. Raises Pt2CaffeError at construction (pt2caffe.frontends.
    onnx.blocks.Block) for what the front end cannot convert.
    """

    def __init__(self, source: OnnxFile):
        super().__init__()
        graph = source.model.graph
        self.source = source
        self.input_names = [spec.name for spec in input_specs(source.model)]
        self.output_names = [value.name for value in graph.output]
        self.initializers = nn.Module()
        self._keys: dict[str, str] = {}  # ONNX name → buffer name (buffer names cannot hold ".")
        for position, tensor in enumerate(graph.initializer):
            value = torch.from_numpy(np.array(numpy_helper.to_array(tensor), copy=True))
            self.initializers.register_buffer(f"i{position}", value.float() if value.is_floating_point() else value)
            self._keys[tensor.name] = f"i{position}"
        self.graph = Block(graph, set(self._keys) | set(self.input_names), set(self._keys), source.opset, source.name,
                           read=read_values(graph))

    def node_contexts(self) -> dict[str, NodeContext]:
        """{module path: the node's context} of every node, branches included (what trace maps ops back to)."""
        return {path: module.ctx for path, module in self.named_modules() if isinstance(module, (NodeModule, IfModule))}

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """The initializers as (ONNX name, tensor)."""
        for name, key in self._keys.items():
            yield prefix + name, getattr(self.initializers, key)

    def forward(self, *inputs):
        scope = {name: getattr(self.initializers, key) for name, key in self._keys.items()}
        scope.update(zip(self.input_names, inputs))
        float_dtype = next((tensor.dtype for tensor in inputs if tensor.is_floating_point()), torch.float32)
        for ctx in self.node_contexts().values():
            ctx.float_dtype = float_dtype
        return tuple(self.graph.run(scope))
