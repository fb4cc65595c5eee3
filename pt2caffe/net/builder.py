"""The net being built: blobs and layers with unique, valid names, checked against the target dialect."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .dialect import Dialect


@dataclass(eq=False)
class Blob:
    name: str
    shape: tuple[int, ...]


@dataclass
class Weight:
    """One learned blob of a layer, with where it came from (for the weight audit)."""

    array: np.ndarray  # float32, C-contiguous, in Caffe's layout
    source: str | None = None  # state_dict key(s), or None for a constant the converter made
    transform: str | None = None  # what was done to the torch tensor, if anything


@dataclass
class Layer:
    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    params: dict  # LayerParameter fields other than name/type/bottom/top/blobs, e.g. {"convolution_param": {...}}
    weights: list[Weight] = field(default_factory=list)
    module: str = ""
    source: str = ""
    top_shapes: list[tuple[int, ...]] = field(default_factory=list)  # one per top, when known
    op: str = ""  # the kind of the op whose lowering emitted it ("" for inputs, guards, appended heads)


_INVALID = re.compile(r"[^A-Za-z0-9_./\-]")


class NetBuilder:
    def __init__(self, name: str, dialect: Dialect):
        self.name = name
        self.dialect = dialect
        self.layers: list[Layer] = []
        self.inputs: list[Blob] = []
        self.notes: list[str] = []  # what the user must know: approximations, target limits
        self._names: set[str] = set()
        self.memo: dict[tuple, object] = {}  # shared helper blobs (a Slice's tops, a batch seed), keyed by their recipe
        self._next_suffix: dict[str, int] = {}  # base → the first suffix not yet tried for it

    def unique_name(self, hint: str) -> str:
        """``hint`` made valid (other characters become ``_``), else ``<base>_1``, ``<base>_2``, …

        Each base remembers where its search stopped, so many layers sharing one hint (``add`` in
        an unrolled loop) cost O(1) each instead of rescanning from ``_1``. Names are never
        released, so the first free suffix is always at or after the remembered one.
        """
        base = _INVALID.sub("_", hint).strip("./") or "layer"
        name = base
        if name in self._names:
            n = self._next_suffix.get(base, 1)
            while f"{base}_{n}" in self._names:
                n += 1
            name = f"{base}_{n}"
            self._next_suffix[base] = n + 1
        self._names.add(name)
        return name

    def input(self, hint: str, shape: tuple[int, ...]) -> Blob:
        blob = Blob(self.unique_name(hint), tuple(shape))
        self.layers.append(Layer(blob.name, "Input", [], [blob.name],
                                 {"input_param": {"shape": [{"dim": list(shape)}]}}))
        self.inputs.append(blob)
        return blob

    def layer(self, hint: str, layer_type: str, bottoms: list[Blob], top_shapes: list[tuple[int, ...]],
              params: dict | None = None, weights: list[Weight] = (), *, module: str = "",
              source: str = "", op: str = "") -> list[Blob]:
        """Append a layer and return its top blobs (one per entry of ``top_shapes``): the first is named
        like the layer, the others ``<layer>/1``, ``<layer>/2``, …"""
        params = params or {}
        name = self.unique_name(hint)
        self.dialect.validate(name, layer_type)
        top_names = [name] + [self.unique_name(f"{name}/{i}") for i in range(1, len(top_shapes))]
        tops = [Blob(top, tuple(int(d) for d in shape)) for top, shape in zip(top_names, top_shapes)]
        self.layers.append(Layer(name, layer_type, [b.name for b in bottoms], [t.name for t in tops],
                                 params, list(weights), module, source, [t.shape for t in tops], op))
        return tops

    def parameter_count(self) -> int:
        return sum(w.array.size for layer in self.layers for w in layer.weights)
