"""Drive the op handlers over a traced graph, building the Caffe net.

:class:`OpContext` is what a handler sees: the op, the blobs of its inputs,
and ``layer()`` to emit Caffe layers named after the op's module path.
"""
from __future__ import annotations

import traceback

import numpy as np
import torch

from . import ops  # noqa: F401  (registers every handler family)
from .builder import Blob, NetBuilder, Weight
from .errors import Pt2CaffeError, one_line, short
from .ops.common import materialize
from .ops.registry import HANDLERS
from .tracer import Const, Graph, Op, Value


class OpContext:
    def __init__(self, op: Op, builder: NetBuilder, blobs: dict[int, Blob], used: set[int] | None = None):
        self.op = op
        self.builder = builder
        self.dialect = builder.dialect
        self._blobs = blobs
        self._used = used

    def is_used(self, output: int | Value) -> bool:
        """Whether a later op or a model output reads an output of this op: ``output`` is its position in
        the op's outputs or the traced value itself (e.g. pooling indices for MaxUnpool). True when unknown.

        A handler may skip the layers of an unused output (return None for it) rather than
        leave a dangling blob (which OpenCV and MNN would show as an output).
        """
        value = self.op.outputs[output] if isinstance(output, int) else output
        return self._used is None or value.index in self._used

    # failing -------------------------------------------------------------------------
    def fail(self, problem: str) -> Pt2CaffeError:
        """An error naming the op, the module and the user's source line; ``raise ctx.fail(...)``."""
        return Pt2CaffeError(f"{self.op.kind} in {self.op.where()}: {problem}")

    # inputs ----------------------------------------------------------------------------
    def blob(self, ref) -> Blob:
        """The blob holding a traced value (an argument of the op); a constant tensor argument is built
        from the batch of the op's traced operands (:func:`pt2caffe.ops.common.materialize`)."""
        if isinstance(ref, Value) and ref.index in self._blobs:
            return self._blobs[ref.index]
        if isinstance(ref, Value):
            raise self.fail("uses a tensor that has no Caffe counterpart (e.g. pooling indices)")
        if isinstance(ref, Const):
            references = [self._blobs[value.index] for value in self.op.inputs if value.index in self._blobs]
            return materialize(self, ref, references)
        raise self.fail(f"expected a tensor computed from the inputs, got {describe(ref)}")

    def shape(self, ref) -> tuple[int, ...]:
        return tuple(ref.shape)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.op.outputs[0].shape

    # emitting ----------------------------------------------------------------------------
    def layer(self, layer_type: str, bottoms: list[Blob], params: dict | None = None, *,
              role: str | None = None, shape: tuple[int, ...] | None = None,
              weights: list[Weight] = (), top_shapes: list[tuple[int, ...]] | None = None):
        """Emit one layer for this op; return its top (or tops, when ``top_shapes`` is given).

        ``role`` distinguishes helper layers of a composition (named
        ``<op name>/<role>``); the layer without a role is the op's own.
        ``shape`` defaults to the op's output shape.
        """
        hint = f"{self.op.name}/{role}" if role else self.op.name
        shapes = top_shapes if top_shapes is not None else [shape if shape is not None else self.out_shape]
        tops = self.builder.layer(hint, layer_type, bottoms, shapes, params, weights,
                                  module=self.op.module_path, source=self.op.source)
        return tops if top_shapes is not None else tops[0]

    def weight(self, ref, array=None, transform: str | None = None) -> Weight:
        """A weight blob from a parameter/constant argument (optionally transformed to ``array``)."""
        if not isinstance(ref, Const):
            raise self.fail(f"expected a parameter or constant, got {describe(ref)}")
        data = ref.tensor if array is None else array
        source = ", ".join(ref.keys) or None
        if ref.keys and ref.derivation and ref.derivation not in ref.keys:
            transform = "; ".join(filter(None, [ref.derivation, transform]))
        return Weight(as_float32(data), source, transform)

    def constant(self, array, what: str) -> Weight:
        """A weight blob the converter made itself (not from the state_dict)."""
        return Weight(as_float32(array), None, what)


def as_float32(data) -> np.ndarray:
    if isinstance(data, torch.Tensor):
        data = data.detach().to(torch.float32).contiguous().numpy()
    return np.asarray(data, dtype=np.float32, order="C")  # keeps 0-d blobs 0-d


def describe(ref) -> str:
    if isinstance(ref, Const):
        return f"constant {ref.describe()} of shape {list(ref.shape)}"
    if isinstance(ref, Value):
        return f"traced tensor of shape {list(ref.shape)}"
    return short(ref)


def lower(graph: Graph, builder: NetBuilder, input_names: list[str]) -> dict[int, Blob]:
    """Emit the net for ``graph``; return the blob of every traced value that has one."""
    blobs: dict[int, Blob] = {}
    used = {value.index for op in graph.ops for value in op.inputs} | {value.index for value in graph.outputs}
    for name, value in zip(input_names, graph.inputs):
        blobs[value.index] = builder.input(name, value.shape)
    for op in graph.ops:
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
