"""The walk of Net::Init over the layers (src/caffe/net.cpp: AppendBottom/AppendTop, then each layer's
CheckBlobCounts, LayerSetUp and Reshape), with every blob's shape from the layer rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import axes, pointwise, sources, windows  # noqa: F401  (register their rules)
from .layers import net_layers
from .rules import INT_MAX, RULES, Out, Refusal, ShapeError, check_counts

SOURCES = frozenset({"Input"} | sources.DATA_LAYERS)  # layers whose tops ``inputs`` may give


@dataclass
class LayerShapes:
    """One layer as Caffe shapes it: bottom and top shapes in order, and its learned blobs' shapes (None
    where not inferred: the recurrent layers' unrolled weights)."""

    layer: object  # its caffe_pb2.LayerParameter (a user's net) or a LayerView (pt2caffe's layers): same fields
    bottoms: list
    tops: list
    learned: Optional[list]


def infer_shapes(layers, inputs: dict | None = None, *, phase: str = "TEST", rules: dict | None = None) -> dict:
    """{blob name: shape} of every blob of ``layers`` (a NetParameter, or pt2caffe Layers), its last value
    for in-place blobs. ``inputs`` ({name: shape}) overrides the Input layers' shapes and gives data layers'.
    ``rules`` replaces RULES (a target whose runtime shapes a layer type otherwise). Raises ShapeError."""
    shapes = {}
    for entry in layer_shapes(layers, inputs, phase=phase, rules=rules):
        shapes.update(zip(entry.layer.top, entry.tops))
    return shapes


def layer_shapes(layers, inputs: dict | None = None, *, phase: str = "TEST", rules: dict | None = None) -> list:
    """[LayerShapes] per layer of the net that ``phase`` keeps, in order (see infer_shapes)."""
    rules = RULES if rules is None else rules
    given = {name: tuple(shape) for name, shape in (inputs or {}).items()}
    blobs, result, unused, known = {}, [], set(given), {}
    for proto in net_layers(layers, phase):
        bottoms = [_bottom(proto, i, blobs) for i in range(len(proto.bottom))]
        key = (getattr(proto, "key", None), tuple(bottoms))  # a repeated layer on the same shapes: known result
        if proto.type in SOURCES and set(proto.top) <= set(given):
            out = Out([given[name] for name in proto.top])
        elif key[0] is not None and key in known:
            out = known[key]
        else:
            out = known[key] = _apply(proto, bottoms, rules)
        unused -= set(proto.top)
        for i, (name, shape) in enumerate(zip(proto.top, out.tops)):
            _valid(proto, name, shape)
            if name in blobs and not (i < len(proto.bottom) and proto.bottom[i] == name):
                raise _error(proto, f"top blob '{name}' produced by multiple sources")
            blobs[name] = shape
        result.append(LayerShapes(proto, bottoms, list(out.tops), out.learned))
    if unused:
        raise ShapeError(f"no input blob named {', '.join(sorted(unused))} in the net")
    return result


def _apply(proto, bottoms, rules) -> Out:
    rule = rules.get(proto.type)
    if rule is None:
        raise _error(proto, f"unknown layer type {proto.type} (stock SSD Caffe has no such layer)")
    try:
        check_counts(proto.type, len(bottoms), len(proto.top))
        out = rule(proto, bottoms)
    except Refusal as refusal:
        raise _error(proto, str(refusal)) from None
    out = out if isinstance(out, Out) else Out(list(out))
    if len(out.tops) != len(proto.top):
        raise _error(proto, f"{len(proto.top)} tops where the layer makes {len(out.tops)}")
    return out


def _bottom(proto, index: int, blobs: dict):
    name = proto.bottom[index]
    if name not in blobs:
        raise _error(proto, f"unknown bottom blob '{name}' (bottom index {index})")
    return blobs[name]


def _valid(proto, name: str, shape) -> None:
    """Blob::Reshape's checks (src/caffe/blob.cpp): at most 32 axes, extents ≥ 0, count ≤ INT_MAX."""
    if len(shape) > 32 or any(d is not None and d < 0 for d in shape):
        raise _error(proto, f"top '{name}' would have the shape {list(shape)}")
    total = 1
    for extent in shape:
        total *= extent or 1
    if total > INT_MAX:
        raise _error(proto, f"top '{name}' {list(shape)} exceeds INT_MAX elements")


def _error(proto, problem: str) -> ShapeError:
    return ShapeError(f"layer '{proto.name}' ({proto.type}): {problem}", proto.name)


