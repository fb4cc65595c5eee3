"""Which input sizes an exported net is valid for, and guards that make every other size fail loudly.

An exact lowering to stock Caffe is sometimes shape-specific: a floor-mode pooling crop keeps a fixed
number of rows, resize and adaptive-pooling matrices are built for one size, some Reshapes carry
literal dims. Such a net computes wrong numbers, silently, when a runtime reshapes it to another size.

How validity is decided: the model is traced and lowered again at probe shapes (batch + 1; every axis
from 2 on ⌊size/2⌋ + 1, then ⌊size/2⌋ + 2: every downsampled feature map's size changes, and the parity
of every strided stage) and each probe's net is compared with the export's, layer by layer (type,
bottoms, tops, parameters, weight shapes, and the values of the constants pt2caffe made). The same net
at every probe means the axes probed are free: the one prototxt is exact at each of those sizes, since
each lowering is (a heuristic, not a proof: a lowering that changed only at some other size would
go unseen). Any difference (or a model that does not run at the probe shape) fixes those axes,
and the differing layers are named as the reason. Axis 1 (channels, or whatever the model's weights
size) is never probed: it is always fixed.

How a fixed axis is guarded: right after the Input layer, one Reshape per fixed axis whose shape copies
every axis (``dim: 0``) but that one, which it states literally: the element count then matches only
when that axis has the export's size. Measured (pt2caffe's tests repeat it): pycaffe aborts with
"output count must match input count" (reshape_layer.cpp), OpenCV dnn raises "srcTotal == dstTotal"
(reshape_layer.cpp), MNN reports "Compute Shape Error for <guard>" and its forward returns nothing.
A single Reshape to the whole export shape would only compare element counts (4×16 passes for 8×8).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import Pt2CaffeError
from . import caffe_pb2
from .builder import Layer, NetBuilder
from .targets import lint

FIRST_PROBED_AXIS = 2  # axes from here on (H, W, …) are probed; 0 is the batch, 1 the channels
MAX_REASONS = 3  # layers named per probe that found a difference
AXIS_NAMES = {2: ["batch", "F"], 3: ["batch", "C", "L"], 4: ["batch", "C", "H", "W"], 5: ["batch", "C", "D", "H", "W"]}


@dataclass
class InputSizes:
    """What sizes one net input accepts: ``shape`` as exported; ``fixed`` axes (0 = batch) must keep
    their exported size, the others may change; ``reasons`` say which layers fix them and why."""

    name: str
    shape: tuple[int, ...]
    fixed: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line, e.g. ``data 1×3×224×224: batch free; C×H×W = 3×224×224 fixed``."""
        names = AXIS_NAMES.get(len(self.shape)) or [f"axis{axis}" for axis in range(len(self.shape))]
        free = [names[axis] for axis in range(len(self.shape)) if axis not in self.fixed]
        parts = [f"{', '.join(free)} free"] if free else []
        if self.fixed:
            parts.append(f"{'×'.join(names[a] for a in self.fixed)} = "
                         f"{'×'.join(str(self.shape[a]) for a in self.fixed)} fixed")
        return f"{self.name} {'×'.join(map(str, self.shape))}: " + "; ".join(parts)

    def as_report(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "fixed_axes": self.fixed,
                "free_axes": [axis for axis in range(len(self.shape)) if axis not in self.fixed],
                "why": self.reasons}

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """True when ``shape`` keeps every fixed axis (and the rank) of the export."""
        return len(shape) == len(self.shape) and all(shape[axis] == self.shape[axis] for axis in self.fixed)


def layer_signature(layer: Layer) -> tuple[str, str]:
    """What a layer computes, as comparable strings: (its own part: type, parameters, weight shapes and
    a digest of the values of converter-made constants; its wiring: bottoms and tops)."""
    weights = [(list(w.array.shape), None if w.source else hashlib.sha1(w.array.tobytes()).hexdigest())
               for w in layer.weights]
    return (json.dumps([layer.type, layer.params, weights], sort_keys=True, default=str),
            json.dumps([layer.bottoms, layer.tops]))


def net_signature(net: NetBuilder) -> dict[str, tuple[str, str]]:
    """{layer name: signature} of every layer but the Inputs (whose shapes differ by construction)."""
    return {layer.name: layer_signature(layer) for layer in net.layers if layer.type != "Input"}


def differences(reference: NetBuilder, probe_net: NetBuilder, what: str) -> list[str]:
    """Why the probe net is not ``reference``: the first layers that are missing, new or set up
    differently there; layers that differ only in their wiring (downstream of those) are named only
    when nothing else differs."""
    ours, probe = net_signature(reference), net_signature(probe_net)
    layers = [layer for layer in reference.layers if layer.type != "Input"]
    changed = [layer for layer in layers if layer.name not in probe or probe[layer.name][0] != ours[layer.name][0]]
    rewired = [layer for layer in layers if layer.name in probe and probe[layer.name] != ours[layer.name]]
    reasons = [_reason(layer, "is absent" if layer.name not in probe else "is set up differently", what)
               for layer in changed]
    reasons += [_reason(layer, "appears", what) for layer in probe_net.layers
                if layer.type != "Input" and layer.name not in ours]
    if not reasons:
        reasons = [_reason(layer, "reads other blobs", what) for layer in rewired]
    return reasons[:MAX_REASONS]


def _reason(layer: Layer, change: str, what: str) -> str:
    where = f" ({layer.module}, {layer.source})" if layer.module else ""
    return f"{layer.type} {layer.name}{where} {change} at {what}"


def probe_shapes(shapes: list[tuple[int, ...]], axes: range | list[int], grow) -> list[tuple[int, ...]]:
    """``shapes`` with ``grow(size)`` on ``axes`` (where the shape has them)."""
    return [tuple(grow(d) if axis in axes else d for axis, d in enumerate(shape)) for shape in shapes]


# Spatial probes, both about half the size so that a probe costs about a quarter of the export's forward:
# halving changes the size of every downsampled feature map (a stride-4 map is the same at 96, 97 and 98,
# not at 49), and the two differ by one, flipping the parity of every strided stage. Sizes too small to
# halve grow instead.
SPATIAL_PROBES = (lambda size: size // 2 + 1 if size > 2 else size + 1,
                  lambda size: size // 2 + 2 if size > 4 else size + 2)


def _describe_shapes(shapes: list[tuple[int, ...]]) -> str:
    return " and ".join("×".join(map(str, shape)) for shape in shapes)


def _probe(lower_at, reference: NetBuilder, shapes: list[tuple[int, ...]]) -> list[str]:
    """Reasons the net at ``shapes`` differs from ``reference`` (empty when it is the same net)."""
    what = _describe_shapes(shapes)
    try:
        probe = lower_at(shapes)
    except Pt2CaffeError as error:
        return [f"the model does not convert at {what}: {error}"]
    except Exception as error:  # noqa: BLE001 — the user's model failing at another size is an answer
        return [f"the model does not run at {what}: {type(error).__name__}: {str(error)[:200]}"]
    return differences(reference, probe, what)


def find_valid_sizes(lower_at, reference: NetBuilder, shapes: list[tuple[int, ...]]) -> list[InputSizes]:
    """Probe the export: ``lower_at(shapes)`` traces and lowers the model at other input shapes.

    Returns one InputSizes per input of ``reference`` (same order as ``shapes``). Axis 1 is always
    fixed; the batch is free when batch + 1 lowers to the same net; the axes from 2 on are free when
    every SPATIAL_PROBES size does. All inputs are probed together, so they share the verdict. The
    first probe changes the batch and the other axes at once: a net free in both (the common case)
    costs two small probes (about 0.5 + 0.25 of the export's forward); only a difference there is
    attributed by probing each alone.
    """
    spatial = range(FIRST_PROBED_AXIS, max(len(shape) for shape in shapes))
    first, *other_sizes = SPATIAL_PROBES if len(spatial) else (None,)

    def probe(batch_grow, spatial_grow) -> list[str]:
        grown = probe_shapes(shapes, [0], batch_grow) if batch_grow else shapes
        return _probe(lower_at, reference, probe_shapes(grown, spatial, spatial_grow) if spatial_grow else grown)

    def spatial_alone(probes) -> list[str]:
        return next((reasons for reasons in (probe(None, grow) for grow in probes) if reasons), [])

    both = probe(lambda size: size + 1, first)
    if not both:
        batch_reasons, spatial_reasons = [], spatial_alone(other_sizes)
    else:
        batch_reasons = probe(lambda size: size + 1, None) if first else both
        spatial_reasons = spatial_alone(SPATIAL_PROBES) if batch_reasons and first else ([] if batch_reasons else both)
    results = []
    for blob in reference.inputs:
        fixed = [axis for axis in range(1, min(FIRST_PROBED_AXIS, len(blob.shape)))]
        if spatial_reasons:
            fixed += list(range(FIRST_PROBED_AXIS, len(blob.shape)))
        if batch_reasons:
            fixed = [0] + fixed
        results.append(InputSizes(blob.name, blob.shape, fixed, batch_reasons + spatial_reasons))
    return results


def add_guards(net: NetBuilder, sizes: list[InputSizes]) -> None:
    """Insert the Reshape guards of every fixed axis right after each Input layer and make the
    input's readers read the last guard instead (names ``<input>/size_guard_axis<k>``)."""
    for entry in sizes:
        guards, bottom = [], entry.name
        for axis in entry.fixed:
            dims = [0] * len(entry.shape)
            dims[axis] = entry.shape[axis]
            refusal = _guard_refused(net, entry.shape, dims)
            if refusal:
                net.notes.append(f"input {entry.name}: no guard for axis {axis} (only {entry.shape[axis]} is valid): "
                                 f"{refusal}")
                continue
            name = net.unique_name(f"{entry.name}/size_guard_axis{axis}")
            guards.append(Layer(name, "Reshape", [bottom], [name],
                                {"reshape_param": {"shape": {"dim": dims}}},
                                source=f"guard: only {entry.shape[axis]} is valid on axis {axis}",
                                top_shapes=[tuple(entry.shape)]))
            bottom = name
        if guards:
            _insert_after_input(net, entry.name, guards)


def _guard_refused(net: NetBuilder, shape: tuple, dims: list[int]) -> str | None:
    """Why the net's target refuses a guard Reshape (NNIE takes no literal batch in a Reshape), or None."""
    guard = caffe_pb2.LayerParameter(name="guard", type="Reshape", bottom=["in"], top=["out"])
    guard.reshape_param.shape.dim.extend(dims)
    found = lint([guard], {"in": tuple(shape), "out": tuple(shape)}, net.target, producers={}, batch=shape[0])
    return found[0].line(net.target.name) if found else None


def _insert_after_input(net: NetBuilder, input_name: str, guards: list[Layer]) -> None:
    position = next(i for i, layer in enumerate(net.layers) if layer.type == "Input" and layer.tops == [input_name])
    last = guards[-1].tops[0]
    for layer in net.layers[position + 1:]:
        layer.bottoms = [last if bottom == input_name else bottom for bottom in layer.bottoms]
    net.layers[position + 1:position + 1] = guards


def header_comment(sizes: list[InputSizes]) -> str:
    """The prototxt's first lines: which input sizes the net is valid for (``#`` comments)."""
    lines = ["# pt2caffe: valid input sizes (any other size fails in the guard Reshape layers)"]
    for entry in sizes:
        lines.append(f"#   {entry.describe()}")
        lines.extend(f"#     why: {reason}" for reason in entry.reasons)
    return "\n".join(lines) + "\n"

