"""The net being built: blobs and layers with unique, valid names, checked against the target dialect."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .dialect import Dialect
from .targets import DEFAULT, Target


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
    def __init__(self, name: str, dialect: Dialect, target: Target | None = None, *, strict: bool = False):
        """``target`` (pt2caffe.net.targets.Target, default: portable) decides which of a handler's forms are
        legal; ``strict``: a net that breaks its rules is refused (``--target`` given), else only reported."""
        self.name = name
        self.dialect = dialect
        self.target = target if target is not None else DEFAULT
        self.strict = strict
        self.layers: list[Layer] = []
        self.inputs: list[Blob] = []
        self.notes: list[str] = []  # what the user must know: approximations, target limits
        self._names: set[str] = set()
        self.memo: dict[tuple, object] = {}  # shared helper blobs (a Slice's tops, a batch seed), keyed by their recipe
        self._next_suffix: dict[str, int] = {}  # base → the first suffix not yet tried for it
        self._undo: list[tuple[str, int | None]] | None = None  # while trying: (base, its old next suffix)
        self._trials = 0  # marks not rewound yet
        self.writers: dict[str, Layer] = {}  # blob name → the layer writing it (kept while lowering)

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
            if self._undo is not None:
                self._undo.append((base, self._next_suffix.get(base)))
            self._next_suffix[base] = n + 1
        self._names.add(name)
        return name

    def input(self, hint: str, shape: tuple[int, ...]) -> Blob:
        blob = Blob(self.unique_name(hint), tuple(shape))
        self.layers.append(Layer(blob.name, "Input", [], [blob.name],
                                 {"input_param": {"shape": [{"dim": list(shape)}]}}))
        self.writers[blob.name] = self.layers[-1]
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
        for top in tops:
            self.writers[top.name] = self.layers[-1]
        return tops

    def mark(self) -> tuple[int, int, int, int]:
        """Where the net is now, for :meth:`rewind` (a form tried and let go: pt2caffe.lowering.choice).
        Name suffixes are recorded from here on so that a rewind gives every name back."""
        if self._undo is None:
            self._undo = []
        self._trials += 1
        return len(self.layers), len(self.notes), len(self.memo), len(self._undo)

    def rewind(self, mark: tuple[int, int, int, int]) -> None:
        """Drop what was added since ``mark``: layers, their names, notes and memo entries (the memo only
        grows, in insertion order); every mark is rewound once, innermost first."""
        layers, notes, memo, undo = mark
        for layer in self.layers[layers:]:
            self._names.discard(layer.name)
            self._names.difference_update(layer.tops)
            for top in layer.tops:
                if self.writers.get(top) is layer:
                    del self.writers[top]
        del self.layers[layers:]
        del self.notes[notes:]
        for key in list(self.memo)[memo:]:
            del self.memo[key]
        for base, old in reversed(self._undo[undo:]):
            if old is None:
                self._next_suffix.pop(base, None)
            else:
                self._next_suffix[base] = old
        del self._undo[undo:]
        self._trials -= 1
        if not self._trials:
            self._undo = None

    def parameter_count(self) -> int:
        return sum(w.array.size for layer in self.layers for w in layer.weights)
