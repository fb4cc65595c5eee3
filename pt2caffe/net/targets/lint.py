"""Lint a Caffe net against a target: every layer, every rule, one :class:`Violation` per broken rule."""
from __future__ import annotations

from dataclasses import dataclass

from .rules import Site
from .target import Target


@dataclass(frozen=True)
class Violation:
    """A layer that breaks a rule of a target: what it does, the rule and where the rule comes from."""

    layer: str
    type: str
    rule: str
    text: str
    source: str
    detail: str

    def line(self, target: str) -> str:
        return f"layer {self.layer} ({self.type}): {self.detail} — {target} rule: {self.text} ({self.source})"


def lint(layers, shapes, target: Target, *, producers=None, batch: int | None = None) -> list[Violation]:
    """The violations of ``target``'s rules by ``layers`` (LayerParameter messages, in net order) whose
    blobs have ``shapes`` (a mapping blob name → shape as Caffe infers it, with ``get``; a missing blob
    is unknown). ``producers`` (blob → LayerParameter) and ``batch`` (axis 0 of the net's inputs)
    default to what ``layers`` themselves say (a whole net)."""
    layers = list(layers)
    if producers is None:
        producers = {top: layer for layer in layers for top in layer.top}
    if batch is None:
        batches = {shapes.get(top)[0] for layer in layers if layer.type == "Input" for top in layer.top
                   if shapes.get(top)}
        batch = batches.pop() if len(batches) == 1 else None
    found = []
    for layer in layers:
        site = Site(layer, tuple(_shape(shapes, b) for b in layer.bottom), tuple(_shape(shapes, t) for t in layer.top),
                    batch, producers)
        for rule in target.rules:
            detail = rule.check(site)
            if detail:
                found.append(Violation(layer.name, layer.type, rule.id, rule.text, rule.source, detail))
    return found


def _shape(shapes, name):
    shape = shapes.get(name)
    return tuple(shape) if shape is not None else None
