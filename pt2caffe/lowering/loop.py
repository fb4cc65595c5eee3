"""Drive the op handlers over an op graph (pt2caffe.graph), building the Caffe net: one handler per op
kind (pt2caffe.lowering.registry), each seeing its op through an OpContext (pt2caffe.lowering.context).
"""
from __future__ import annotations

import traceback

from ..errors import Pt2CaffeError, one_line
from ..graph import Graph
from ..net.builder import Blob, NetBuilder
from . import ops  # noqa: F401  (registers every handler family)
from .context import OpContext
from .ops.layout_chain import fuse_layout_chains
from .registry import HANDLERS


def lower(graph: Graph, builder: NetBuilder, input_names: list[str]) -> dict[int, Blob]:
    """Emit the net for ``graph``; return the blob of every traced value that has one. Runs of views and
    transposes that only permute channels are lowered as one op (pt2caffe.lowering.ops.layout_chain)."""
    blobs: dict[int, Blob] = {}
    used = {value.index for op in graph.ops for value in op.inputs} | {value.index for value in graph.outputs}
    for name, value in zip(input_names, graph.inputs):
        blobs[value.index] = builder.input(name, value.shape)
    for op in fuse_layout_chains(graph.ops, graph.outputs):
        handler = HANDLERS.get(op.kind)
        if handler is None:
            raise Pt2CaffeError(f"unsupported op {op.kind} in {op.where()}: pt2caffe has no lowering for it")
        try:
            result = handler.fn(op, OpContext(op, builder, blobs, used))
        except Pt2CaffeError:
            raise
        except Exception as error:  # a case the handler did not foresee: still say where
            raise Pt2CaffeError(f"{op.kind} in {op.where()} could not be converted: {type(error).__name__}: "
                                f"{one_line(str(error), 500)}", traceback.format_exc()) from None
        if not handler.exact:
            builder.notes.append(f"{op.kind} in {op.where()} is not exact: {handler.lowering}")
        tops = result if isinstance(result, (list, tuple)) else [result]
        if len(tops) != len(op.outputs):
            raise Pt2CaffeError(f"internal: handler for {op.kind} gave {len(tops)} blobs for "
                                f"{len(op.outputs)} outputs in {op.where()}")
        for value, top in zip(op.outputs, tops):
            if top is not None:
                blobs[value.index] = top
    return blobs
