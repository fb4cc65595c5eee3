"""Finding which input sizes an exported net is valid for, by converting the model again at other sizes.

An exact lowering to stock Caffe is sometimes shape-specific: a floor-mode pooling crop keeps a fixed
number of rows, resize and adaptive-pooling matrices are built for one size, some Reshapes carry
literal dims. Such a net computes wrong numbers, silently, when a runtime reshapes it to another size.

How validity is decided: the model is traced and lowered again at probe shapes (batch + 1; every axis
from 2 on ⌊size/2⌋ + 1, then ⌊size/2⌋ + 2: every downsampled feature map's size changes, and the parity
of every strided stage) and each probe's net is compared with the export's, layer by layer (type,
bottoms, tops, parameters, weight shapes, and the values of the constants pt2caffe made). The same net
at every probe means the axes probed are free: the one prototxt is exact at each of those sizes, since
each lowering is (a heuristic, not a proof: a lowering that changed only at some other size would
go unseen). Any difference (or a model that does not run at the probe shape) makes those axes not free,
and the differing layers are named as the reason. Axis 1 (channels, or whatever the model's weights
size) is never probed: it is always fixed.

Not free is often not fixed: a UNet, an FPN or a YOLO neck concatenates maps that agree only when the
image is a multiple of the net's total stride, and the odd probe sizes above break that. So when the
spatial axes are not free, find_stride looks for the smallest stride k (a divisor of every exported
spatial size) at whose multiples the net is the same, and those axes become "any multiple
of k" instead of fixed. pt2caffe.net.guards makes every other size fail in the runtimes.
"""
from __future__ import annotations

import hashlib
import json
import math
from itertools import count

from ..errors import Pt2CaffeError
from .builder import Layer, NetBuilder
from .sizes import InputSizes

FIRST_PROBED_AXIS = 2  # axes from here on (H, W, …) are probed; 0 is the batch, 1 the channels
MAX_REASONS = 3  # layers named per probe that found a difference
MAX_STRIDE_PROBES = 8  # beyond, the spatial axes stay fixed (a stride search that long is not worth its cost)
STRIDE_GUARDED_RANKS = (3, 4)  # inputs whose "multiple of k" pt2caffe.net.guards can enforce


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
    return f"at {what} {layer.type} {layer.name}{where} {change}"


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
        return [f"at {what} the model does not convert: {error}"]
    except Exception as error:  # noqa: BLE001 — the user's model failing at another size is an answer
        return [f"at {what} the model does not run: {type(error).__name__}: {str(error)[:200]}"]
    return differences(reference, probe, what)


def find_valid_sizes(lower_at, reference: NetBuilder, shapes: list[tuple[int, ...]]) -> list[InputSizes]:
    """Probe the export: ``lower_at(shapes)`` traces and lowers the model at other input shapes.

    Returns one InputSizes per input of ``reference`` (same order as ``shapes``). Axis 1 is always
    fixed; the batch is free when batch + 1 lowers to the same net; the axes from 2 on are free when
    every SPATIAL_PROBES size does, else any multiple of the stride find_stride finds, else fixed. All
    inputs are probed together, so they share the verdict. The first probe changes the batch and the
    other axes at once: a net free in both (the common case) costs two small probes (about 0.5 + 0.25 of
    the export's forward); only a difference there is attributed by probing each alone.
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
    stride = None
    if spatial_reasons and all(len(shape) in STRIDE_GUARDED_RANKS for shape in shapes):
        stride = find_stride(lower_at, reference, shapes, spatial)
    results = []
    for blob in reference.inputs:
        fixed = [axis for axis in range(1, min(FIRST_PROBED_AXIS, len(blob.shape)))]
        axes = list(range(FIRST_PROBED_AXIS, len(blob.shape)))
        multiple = {axis: stride for axis in axes} if stride else {}
        if spatial_reasons and not stride:
            fixed += axes
        if batch_reasons:
            fixed = [0] + fixed
        results.append(InputSizes(blob.name, blob.shape, fixed, batch_reasons + spatial_reasons, multiple))
    return results


def find_stride(lower_at, reference: NetBuilder, shapes: list[tuple[int, ...]], spatial: range) -> int | None:
    """The smallest k such that the net is the same at shapes whose spatial sizes are other multiples of k
    (two probes, stride_probes), or None.

    Candidates are the divisors of g, the gcd of every exported spatial size, from 2 to half the smallest
    size, largest first. The sizes valid for a model form the multiples of its true stride, so when k
    fails every divisor of k fails too (its multiples include k's), and once k passes the answer divides
    k: a UNet at 64×48 (g = 16) costs 16 (passes) and 8 (fails), three probes. At most MAX_STRIDE_PROBES.
    """
    sizes = [shape[axis] for shape in shapes for axis in spatial if axis < len(shape)]
    g = math.gcd(*sizes)
    failed, found, spent = [], None, 0
    for k in sorted((d for d in range(2, min(sizes) // 2 + 1) if g % d == 0), reverse=True):
        if any(f % k == 0 for f in failed) or (found and found % k):
            continue
        probes = stride_probes(shapes, spatial, k, g)
        if spent + len(probes) > MAX_STRIDE_PROBES:
            return None
        passed = True
        for probe in probes:
            spent += 1
            if _probe(lower_at, reference, probe):
                passed = False
                break
        if passed:
            found = k
        else:
            failed.append(k)
    return found


def stride_probes(shapes: list[tuple[int, ...]], spatial: range, k: int, g: int) -> list[list[tuple[int, ...]]]:
    """Two probes for stride k: every spatial size s becomes k·m for the first two m from ⌊s/2k⌋ (at least 1)
    that are coprime to g/k (so k·m is a multiple of k but of no larger divisor of g: a probe at 32 would
    not tell 16 from 32) and give another size than s. About half the size, like SPATIAL_PROBES."""
    def sizes_for(s: int) -> list[int]:
        ms = (m for m in count(max(1, s // (2 * k))) if math.gcd(m, g // k) == 1 and k * m != s)
        return [k * next(ms), k * next(ms)]

    per_axis = [{axis: sizes_for(shape[axis]) for axis in spatial if axis < len(shape)} for shape in shapes]
    return [[tuple(options[axis][which] if axis in options else d for axis, d in enumerate(shape))
             for shape, options in zip(shapes, per_axis)] for which in (0, 1)]
