"""Lint the builder's own layers (while lowering, or the finished net) against its target."""
from __future__ import annotations

from ..proto import layer_proto
from .lint import Violation, lint


def new_violations(builder, layers) -> list[Violation]:
    """The violations of the builder's target by ``layers`` (just emitted), seen in the net built so far."""
    if not builder.target.rules:
        return []
    protos = [layer_proto(layer) for layer in layers]
    shapes = _Shapes(builder.writers, {blob.name: blob.shape for blob in builder.inputs})
    producers = _Producers(builder.writers, {top: proto for proto in protos for top in proto.top})
    return lint(protos, shapes, builder.target, producers=producers, batch=batch_of(builder))


def net_violations(builder) -> list[Violation]:
    """The violations of the builder's target by its whole net (after outputs are settled and guards added),
    with the shapes its layers declare."""
    if not builder.target.rules:
        return []
    protos = [layer_proto(layer) for layer in builder.layers]
    shapes = {blob.name: blob.shape for blob in builder.inputs}
    shapes.update((top, shape) for layer in builder.layers if len(layer.top_shapes) == len(layer.tops)
                  for top, shape in zip(layer.tops, layer.top_shapes))
    return lint(protos, shapes, builder.target, batch=batch_of(builder))


def refusal(builder, violation: Violation) -> str:
    """One line: the layer breaking the rule, the module and source line it was made for, the rule, the target."""
    layer = next((layer for layer in builder.layers if layer.name == violation.layer), None)
    where = f" (module {layer.module or 'the model'}, {layer.source})" if layer is not None and layer.source else ""
    return f"{violation.line(builder.target.name)}{where}; the export does not obey target {builder.target.name}"


def batch_of(builder) -> int | None:
    """The net's batch: axis 0 of its inputs when they agree (None otherwise)."""
    batches = {blob.shape[0] for blob in builder.inputs if blob.shape}
    return batches.pop() if len(batches) == 1 else None


class _Shapes:
    """blob → shape, read from the layers writing them (declared shapes)."""

    def __init__(self, writers, inputs):
        self._writers, self._inputs = writers, inputs

    def get(self, name, default=None):
        if name in self._inputs:
            return self._inputs[name]
        layer = self._writers.get(name)
        if layer is None or name not in layer.tops or len(layer.top_shapes) != len(layer.tops):
            return default
        return layer.top_shapes[layer.tops.index(name)]


class _Producers:
    """blob → LayerParameter of its writer, converted when a rule asks."""

    def __init__(self, writers, known):
        self._writers, self._known = writers, dict(known)

    def get(self, name, default=None):
        if name not in self._known:
            layer = self._writers.get(name)
            if layer is None:
                return default
            self._known[name] = layer_proto(layer)
        return self._known[name]
