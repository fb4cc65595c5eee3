"""Deploy cost of Caffe layers: estimated forward time per target runtime, weight bytes and blob bytes.

One idea: a per-layer linear model, time = Σ coefficient × work feature, with the layer's class deciding which
features count (table ``CLASSES``) and one coefficient table per runtime (``COEFFICIENTS``), fitted by
non-negative least squares on every layer's own time in the runtimes' profilers (OpenCV ``getPerfProfile``,
MNN's per-op callbacks, pycaffe's ``_forward(i, i)``; medians of 9 profiled forwards, one thread) over 59
nets and 9,000+ layers: the product, linear, affine, GELU, clamp and recurrent forms of issue 21 and the
exports of ViT-tiny, a TransformerEncoder, MobileNetV2 and a CRNN (OpenCV 4.14, MNN 3.6.1, stock SSD Caffe;
2-core AMD EPYC, L2 1 MiB per core). Its purpose is ranking the exact forms of one op the way the runtimes
do (median error of one layer: a factor 1.1–1.7; alternatives that differ by 1.5× or more come out in the
measured order), not predicting absolute times.

The features are what the runtimes are measurably slow at:
* ``img_w``: images × weights of a Convolution/InnerProduct (each image re-reads the weights: a 1×1
  Convolution over (rows, K, 1, 1) is a GEMV per row, 7× an InnerProduct in OpenCV);
* ``planes``: N·C of a 4-D blob (OpenCV's elementwise layers loop per (n, c) plane; one-element planes
  cost ~12 ns each);
* ``relayout``: elements of a Reshape that changes a 4-D blob's channel axis or rank (MNN keeps 4-D blobs
  as NC4HW4 and copies them then);
* MNN pads channels to a multiple of 4 and runs every Power/Exp/Log as an elementwise ``pow``
  (tools/converter/source/optimizer/caffeextra/PowerTransform.cpp, ExpTransform.cpp);
* ``big``: elements of a layer whose inputs and outputs exceed the cache (streamed from memory);
* ``outer``: how often a two-bottom Scale re-applies its scale blob (axis ≥ 2 is pathological in OpenCV).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .builder import Layer

CACHE_BYTES = 2 << 20
FLOAT_BYTES = 4
WEIGHT_US_PER_BYTE = 1e-4  # a stored weight costs about one read of it: 0.1 ms per MB

_CLASS_OF = {
    **dict.fromkeys(("Permute", "Concat", "Slice", "Crop", "Tile"), "copy"),
    **dict.fromkeys(("Reshape", "Flatten", "Split", "Silence", "Dropout", "Input"), "free"),
    **dict.fromkeys(("ReLU", "Eltwise", "Scale", "Bias", "AbsVal", "BatchNorm", "Threshold", "PReLU"), "simple"),
    **dict.fromkeys(("Sigmoid", "TanH", "BNLL", "ELU", "Softmax"), "transc"),
    **dict.fromkeys(("Power", "Exp", "Log"), "pow"),
    **dict.fromkeys(("Pooling", "MVN", "Reduction", "LRN", "Normalize"), "reduce"),
    "Deconvolution": "deconv", "InnerProduct": "gemm",
}
# µs per unit of each feature, per runtime (source: the fit described in the module docstring).
COEFFICIENTS = {
    "opencv": {
        "gemm": {"one": 24.0, "macs": 4.69e-5, "img_w": 1.93e-4, "out": 5.79e-4},
        "dwconv": {"one": 15.2, "macs": 1.99e-5, "out": 4.24e-4, "groups": 0.0702},
        "deconv": {"one": 8.15, "macs": 3.5e-3, "groups": 0.329},
        "copy": {"one": 0.92, "elems": 1.9e-4},
        "free": {"one": 0.94},
        "simple": {"one": 0.80, "elems": 4.97e-5, "planes": 0.0126, "big": 6.6e-5},
        "pow": {"one": 0.71, "elems": 1.0e-4, "planes": 0.0053},
        "scale2": {"elems": 8.11e-5, "planes": 0.126, "outer": 23.7},
        "transc": {"one": 2.45, "elems": 5e-5},
        "reduce": {"one": 6.54, "elems": 6.07e-4, "planes": 0.0138},
    },
    "mnn": {
        "gemm": {"one": 42.4, "macs": 1.89e-5, "img_w": 4.42e-5, "big": 9.22e-5},
        "dwconv": {"one": 15.0, "macs": 2.0e-5, "out": 2.8e-4},
        "deconv": {"one": 8.03, "out": 2.76e-4},
        "copy": {"one": 2.37, "elems": 9.91e-4},
        "free": {"one": 4.35, "relayout": 4.1e-4},
        "simple": {"one": 4.13, "elems": 7.49e-5, "planes": 1.2e-4, "big": 1.2e-5},
        "pow": {"one": 4.98, "elems": 6.77e-3},
        "scale2": {"one": 1e6},  # MNN's Caffe converter crashes on it (no blobs): never choose it for MNN
        "transc": {"one": 4.09, "elems": 7.65e-4, "planes": 7.3e-4},
        "reduce": {"one": 3.24, "elems": 1.22e-4, "planes": 4.14e-3},
    },
    "pycaffe": {
        "gemm": {"one": 12.4, "macs": 3.21e-5, "img_w": 2.43e-5, "out": 2.03e-4, "big": 6.99e-5},
        "dwconv": {"one": 1.68, "macs": 2.07e-4, "groups": 0.0322},
        "deconv": {"one": 38.6, "macs": 1.19e-3, "out": 4.17e-5, "groups": 8.47e-3},
        "copy": {"one": 2.57, "elems": 2.0e-4},
        "free": {"one": 1.86},
        "simple": {"one": 2.06, "elems": 1.36e-4, "planes": 3.76e-4, "big": 3.27e-5},
        "pow": {"one": 1.44, "elems": 6.83e-3, "planes": 1.05e-3},
        "scale2": {"one": 3.85, "elems": 2.64e-4, "outer": 1.88},
        "transc": {"one": 3.26, "elems": 1.57e-3, "planes": 7.57e-3},
        "reduce": {"one": 4.44, "elems": 7.11e-4, "planes": 0.0592},
    },
    # Targets without a runtime here (NPUs): fewer layers and fewer bytes moved are better.
    "generic": {cls: {"one": 5.0, "macs": 2e-5, "elems": 1e-4, "out": 1e-4} for cls in
                ("gemm", "dwconv", "deconv", "copy", "free", "simple", "pow", "scale2", "transc", "reduce")},
}
PORTABLE = ("pycaffe", "opencv", "mnn")
_FUSED = {"ReLU", "BatchNorm", "Scale"}  # fused into the Convolution/InnerProduct before them by OpenCV and MNN


@dataclass(frozen=True)
class Cost:
    """What a set of layers costs on a target: estimated forward ``time_us`` (µs, one thread), the bytes of
    the weights stored in the caffemodel, the bytes of their top blobs (pycaffe keeps every blob; Reshape,
    Flatten and Split tops share their bottom's memory and do not count), and the layer count. ``score``
    (µs) is what form choice minimises: time plus the weights at WEIGHT_US_PER_BYTE."""

    time_us: float
    weight_bytes: int
    blob_bytes: int
    layers: int

    @property
    def score(self) -> float:
        return self.time_us + WEIGHT_US_PER_BYTE * self.weight_bytes


def _size(shape) -> float:
    return float(math.prod(shape)) if shape else 1.0


def layer_class(layer: Layer, bottoms: list[tuple[int, ...]]) -> str:
    """The cost class of ``layer`` (table ``COEFFICIENTS``); ``bottoms`` are its bottom shapes."""
    if layer.type == "Convolution":
        group = int(layer.params.get("convolution_param", {}).get("group", 1))
        channels = bottoms[0][1] if bottoms and len(bottoms[0]) > 1 else 1
        return "dwconv" if group > 1 and group == channels else "gemm"
    if layer.type == "Scale" and len(layer.bottoms) == 2:
        return "scale2"
    return _CLASS_OF.get(layer.type, "simple")


def features(layer: Layer, bottoms: list[tuple[int, ...]], tops: list[tuple[int, ...]]) -> dict[str, float]:
    """The work features of ``layer`` with these bottom and top shapes (see the module docstring); MNN's
    channel padding is applied by ``layer_time``."""
    out, inp = sum(_size(s) for s in tops), sum(_size(s) for s in bottoms)
    top = tops[0] if tops else ()
    images = float(top[0]) if top else 1.0
    planes = images * top[1] if len(top) >= 3 else images
    big = out + inp > CACHE_BYTES / FLOAT_BYTES
    found = {"one": 1.0, "planes": planes}
    cls = layer_class(layer, bottoms)
    if cls in ("gemm", "dwconv", "deconv"):
        weights = _size(layer.weights[0].array.shape) if layer.weights else 0.0
        group = float(layer.params.get("convolution_param", {}).get("group", 1))
        if layer.type == "InnerProduct":
            axis = int(layer.params.get("inner_product_param", {}).get("axis", 1))
            found.update(macs=_size(bottoms[0][:axis]) * weights, img_w=weights)
        else:
            spatial = _size(bottoms[0][2:]) if cls == "deconv" else _size(top[2:])
            found.update(macs=images * weights * spatial, img_w=images * weights, groups=images * group)
        found.update(out=out, big=out if big else 0.0)
    elif cls == "free":
        shape_in, shape_out = (bottoms[0] if bottoms else ()), top
        changes = len(shape_in) != len(shape_out) or (len(shape_in) == 4 and shape_in[1] != shape_out[1])
        found["relayout"] = out if changes and 4 in (len(shape_in), len(shape_out)) else 0.0
    else:
        elems = out if cls == "copy" else max(out, inp)
        found.update(elems=elems, big=elems if big else 0.0)
        if cls == "scale2":
            axis = int(layer.params.get("scale_param", {}).get("axis", 1))
            found["outer"] = _size(bottoms[0][:axis])
    return found


def layer_time(layer: Layer, bottoms: list[tuple[int, ...]], tops: list[tuple[int, ...]], runtime: str) -> float:
    """Estimated µs of one layer with these bottom and top shapes in ``runtime`` (a key of COEFFICIENTS)."""
    table = COEFFICIENTS[runtime].get(layer_class(layer, bottoms), {})
    found = features(layer, bottoms, tops)
    if runtime == "mnn" and tops and len(tops[0]) == 4 and tops[0][1]:
        channels = tops[0][1]
        padding = math.ceil(channels / 4) * 4 / channels
        found = {k: (v * padding if k in ("elems", "out", "big") else v) for k, v in found.items()}
    return sum(table.get(key, 0.0) * value for key, value in found.items())


def _fused(layers: list[Layer], index: int, producers: dict[str, Layer], readers: Counter) -> bool:
    """Whether OpenCV and MNN fuse layer ``index`` (a ReLU/BatchNorm/one-bottom Scale) into the
    Convolution/InnerProduct it reads through a chain of such layers, each with one reader."""
    layer = layers[index]
    while layer.type in _FUSED and len(layer.bottoms) == 1:
        source = producers.get(layer.bottoms[0])
        if source is None or readers[layer.bottoms[0]] != 1:
            return False
        if source.type in ("Convolution", "InnerProduct"):
            return True
        layer = source
    return False


def _input_shapes(layer: Layer) -> list[tuple[int, ...]]:
    """The shapes an Input layer declares (the builder records them in ``input_param`` only)."""
    return [tuple(s["dim"]) for s in layer.params.get("input_param", {}).get("shape", [])]


def cost(layers: list[Layer], target, writers: dict[str, Layer] | None = None) -> float:
    """The price form choice (pt2caffe.lowering.choice) minimises: the ``score`` (µs) of ``layers`` on
    ``target`` (a pt2caffe.net.targets.Target, or its name); ``writers`` (blob name → the layer writing it,
    the builder's) gives the shapes of the bottoms ``layers`` read but do not make."""
    known = {}
    for layer in layers:
        for name in layer.bottoms:
            writer = (writers or {}).get(name)
            if writer is not None and name not in known:
                shapes = writer.top_shapes or _input_shapes(writer)
                known[name] = shapes[writer.tops.index(name)] if shapes else ()
    return estimate(layers, getattr(target, "name", target), known).score


def estimate(layers: list[Layer], target: str = "portable", known: dict[str, tuple[int, ...]] | None = None) -> Cost:
    """The Cost of ``layers`` on ``target`` ("portable": the sum over pycaffe, OpenCV and MNN; "opencv",
    "mnn", "pycaffe"; any other name: the generic table). ``known`` gives the shapes of bottoms that no layer
    of ``layers`` produces (the blobs a form starts from); a layer without top shapes (guards) has its first
    bottom's. Raises KeyError for a bottom of unknown shape."""
    shapes = dict(known or {})
    producers: dict[str, Layer] = {}
    top_shapes = {}
    for layer in layers:
        bottoms = [shapes[name] for name in layer.bottoms]
        top_shapes[id(layer)] = layer.top_shapes or _input_shapes(layer) or bottoms[:1] * len(layer.tops)
        shapes.update(zip(layer.tops, top_shapes[id(layer)]))
        producers.update(dict.fromkeys(layer.tops, layer))
    readers = Counter(name for layer in layers for name in layer.bottoms)
    runtimes = PORTABLE if target == "portable" else (target,) if target in COEFFICIENTS else ("generic",)
    time = 0.0
    for index, layer in enumerate(layers):
        if layer.type == "Input":
            continue
        bottoms = [shapes[name] for name in layer.bottoms]
        fused = _fused(layers, index, producers, readers)
        time += sum(0.0 if fused and runtime in ("opencv", "mnn") else
                    layer_time(layer, bottoms, top_shapes[id(layer)], runtime) for runtime in runtimes)
    weight_bytes = sum(w.array.size * FLOAT_BYTES for layer in layers for w in layer.weights)
    blob_bytes = int(sum(_size(s) for layer in layers if layer.type not in ("Input", "Reshape", "Flatten", "Split")
                         for s in top_shapes[id(layer)]))
    blob_bytes *= FLOAT_BYTES
    return Cost(time, weight_bytes, blob_bytes, sum(layer.type != "Input" for layer in layers))
