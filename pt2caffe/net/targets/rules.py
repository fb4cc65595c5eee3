"""Rules as data: what a target accepts of one Caffe layer, each rule with the source it comes from.

A :class:`Rule` looks at one :class:`Site` (a layer with the shapes of its bottoms and tops, as Caffe
infers them) and says what is wrong with it, or nothing. The constructors below are the kinds of
rules the targets need; a target module lists its rules with their sources (pt2caffe.net.targets).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .. import caffe_pb2

Shape = tuple[int, ...]
# the parameter message that holds a layer type's ``axis`` (caffe.proto), and the axis's default there
AXIS_FIELDS = {"Concat": ("concat_param", 1), "Slice": ("slice_param", 1), "Softmax": ("softmax_param", 1),
               "Crop": ("crop_param", 2), "Flatten": ("flatten_param", 1), "InnerProduct": ("inner_product_param", 1),
               "Scale": ("scale_param", 1), "Bias": ("bias_param", 1), "Reduction": ("reduction_param", 0),
               "Tile": ("tile_param", 1), "ArgMax": ("argmax_param", None)}


@dataclass(frozen=True)
class Site:
    """One layer as a rule sees it: the message, its bottoms' and tops' shapes (None when unknown), the
    batch size of the net's inputs (axis 0), and the layer that produces each blob of the net."""

    layer: caffe_pb2.LayerParameter
    bottoms: tuple[Shape | None, ...]
    tops: tuple[Shape | None, ...]
    batch: int | None
    producers: dict  # blob name → LayerParameter that writes it


@dataclass(frozen=True)
class Rule:
    """``text`` names the rule as a user reads it; ``source`` is where it comes from (a document, a
    tool's source file, or a measurement); ``check`` returns what the layer does wrong, or None."""

    id: str
    text: str
    source: str
    check: Callable[[Site], str | None]


def axis_of(layer: caffe_pb2.LayerParameter, rank: int) -> int | None:
    """The axis a layer works on, non-negative (Slice's old ``slice_dim`` too); None for types without one."""
    field, default = AXIS_FIELDS.get(layer.type, (None, None))
    if field is None:
        return None
    param = getattr(layer, field)
    axis = param.axis if param.HasField("axis") else default
    if layer.type == "Slice" and not param.HasField("axis") and param.HasField("slice_dim"):
        axis = param.slice_dim
    if axis is None:
        return None
    return axis + rank if axis < 0 else axis


def layer_types(rule_id: str, allowed: frozenset[str] | None = None, refused: dict[str, str] | None = None, *,
                source: str) -> Rule:
    """Types the target takes: only ``allowed`` (when given), never those in ``refused`` (type → why)."""
    refused = refused or {}

    def check(site: Site) -> str | None:
        kind = site.layer.type
        if kind in refused:
            return f"{kind}: {refused[kind]}"
        if allowed is not None and kind not in allowed:
            return f"{kind} is not a layer type it takes"
        return None
    return Rule(rule_id, "layer types", source, check)


def batch_axis_kept(rule_id: str, *, source: str) -> Rule:
    """No layer reads across or changes the batch: every top keeps axis 0 = the inputs' batch, and no
    layer works on axis 0 (Concat, Slice, Softmax, Flatten, Reduction, … with ``axis: 0``)."""

    def check(site: Site) -> str | None:
        for name, shape in zip(site.layer.top, site.tops):
            if shape is not None and site.batch is not None and (not shape or shape[0] != site.batch):
                return f"top {name} has shape {list(shape)}: axis 0 is not the batch ({site.batch})"
        rank = len(site.bottoms[0]) if site.bottoms and site.bottoms[0] is not None else None
        if rank is not None and axis_of(site.layer, rank) == 0:
            return f"{site.layer.type} works on axis 0 (the batch)"
        return None
    return Rule(rule_id, "no operation on the batch axis", source, check)


def blob_rank(rule_id: str, ranks: frozenset[int], *, source: str) -> Rule:
    def check(site: Site) -> str | None:
        for name, shape in zip(site.layer.top, site.tops):
            if shape is not None and len(shape) not in ranks:
                return f"top {name} has {len(shape)} axes {list(shape)}"
        return None
    return Rule(rule_id, f"blobs with {' or '.join(map(str, sorted(ranks)))} axes", source, check)


def field_rule(rule_id: str, layer_type: str, text: str, broken: Callable[[caffe_pb2.LayerParameter, Site], str | None],
               *, source: str) -> Rule:
    """A rule about one layer type's parameters: ``broken`` returns what is wrong (or None)."""

    def check(site: Site) -> str | None:
        return broken(site.layer, site) if site.layer.type == layer_type else None
    return Rule(rule_id, text, source, check)


def pooling_mask(rule_id: str, *, source: str) -> Rule:
    """No Pooling with its argmax mask as a second top (a runtime that drops or cannot build it)."""
    return field_rule(rule_id, "Pooling", "Pooling without its mask top",
                      lambda layer, site: "its argmax mask (second top)" if len(layer.top) > 1 else None,
                      source=source)


def window_values(layer: caffe_pb2.LayerParameter) -> dict[str, list[int]]:
    """kernel/stride/pad/dilation values a Convolution, Deconvolution or Pooling layer sets (caffe.proto
    spells them as repeated fields for convolutions, single ones for pooling, or as _h/_w pairs)."""
    if layer.type in ("Convolution", "Deconvolution"):
        p = layer.convolution_param
        kernel = list(p.kernel_size) + [v for v in (p.kernel_h, p.kernel_w) if v]
        stride = list(p.stride) + [v for v in (p.stride_h, p.stride_w) if v]
        pad = list(p.pad) + [v for v in (p.pad_h, p.pad_w) if v]
        return {"kernel": kernel, "stride": stride, "pad": pad, "dilation": list(p.dilation)}
    if layer.type == "Pooling" and not layer.pooling_param.global_pooling:
        p = layer.pooling_param
        return {"kernel": [v for v in (p.kernel_size, p.kernel_h, p.kernel_w) if v],
                "stride": [v for v in (p.stride, p.stride_h, p.stride_w) if v],
                "pad": [v for v in (p.pad, p.pad_h, p.pad_w) if v]}
    return {}


def window_range(rule_id: str, low: int, high: int, *, source: str) -> Rule:
    """Kernel, stride and dilation within [low, high]; pad within [0, high]."""

    def check(site: Site) -> str | None:
        for name, values in window_values(site.layer).items():
            floor = 0 if name == "pad" else low
            bad = [v for v in values if not floor <= v <= high]
            if bad:
                return f"{name} {bad[0]} outside {floor}–{high}"
        return None
    return Rule(rule_id, f"kernel, stride, dilation {low}–{high}, pad 0–{high}", source, check)


def max_extent(rule_id: str, limit: int, *, source: str) -> Rule:
    """Feature maps at most ``limit`` high and wide (axes 2 and 3 of 4-D tops)."""

    def check(site: Site) -> str | None:
        for name, shape in zip(site.layer.top, site.tops):
            extents = [extent for extent in (shape or ())[2:] if extent is not None]  # None: known only at run time
            if shape is not None and len(shape) == 4 and extents and max(extents) > limit:
                return f"top {name} is {shape[2]}×{shape[3]}"
        return None
    return Rule(rule_id, f"feature maps at most {limit} high and wide", source, check)
