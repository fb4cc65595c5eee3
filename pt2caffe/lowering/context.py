"""What a handler sees: :class:`OpContext`, the op, the blobs of its inputs, and ``layer()`` to emit Caffe
layers named after the op's module path."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import Pt2CaffeError, short
from ..graph import Const, Op, Value
from ..net.builder import Blob, NetBuilder, Weight
from .choice import choose
from .compose.constants import materialize


class OpContext:
    """One op's view of the net being built: its inputs' blobs (``blob``), ``layer`` and ``weight`` to emit,
    and ``fail`` for a one-line error naming the op's module and source line."""

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
        from the batch of the op's traced operands (:func:`pt2caffe.lowering.compose.constants.materialize`)."""
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
                                  module=self.op.module_path, source=self.op.source, op=self.op.kind)
        return tops if top_shapes is not None else tops[0]

    def choose(self, *forms):
        """Emit the cheapest of the exact ``forms`` (pt2caffe.lowering.choice.Form) the target accepts and
        return its blob(s); Pt2CaffeError naming the op, its source line, the rule and the target when the
        target accepts none of them (pt2caffe.lowering.choice.choose)."""
        return choose(self, forms)

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
