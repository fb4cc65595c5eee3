"""ncnn through its ``caffe2ncnn`` converter (Tencent/ncnn tools/caffe). Lint only in the project.

Sources: tools/caffe/caffe2ncnn.cpp (what it writes for each layer type), src/layer/crop.cpp and
src/layer/pooling.cpp (how ncnn reads it); every rule was also measured with the tool built from that
source and the ncnn 1.0.20261020 runtime (issue 24's notes).
"""
from __future__ import annotations

from .rules import Rule, batch_axis_kept, field_rule, layer_types
from .target import Target

TOOL = "Tencent/ncnn tools/caffe/caffe2ncnn.cpp"
REFUSED = {
    "Reduction": "caffe2ncnn writes none of its parameters (ncnn reduces every axis)",
    "Tile": "caffe2ncnn writes none of its parameters",
    "Bias": "caffe2ncnn writes neither parameters nor weights (the model fails to load)",
    "ArgMax": "ncnn fails to load it as caffe2ncnn writes it",
    "SPP": "ncnn fails to load it as caffe2ncnn writes it",
    "Parameter": "not converted", "Filter": "not converted", "BatchReindex": "not converted",
    "Im2col": "not converted", "DummyData": "not converted", "LSTMUnit": "not converted", "RNN": "not converted",
}


def _reshape(layer, site):
    dims = list(layer.reshape_param.shape.dim)
    if len(dims) > 4:
        return f"{len(dims)} axes {dims} (caffe2ncnn keeps dims 1–3)"
    rank = len(site.bottoms[0]) if site.bottoms and site.bottoms[0] is not None else None
    if 0 in dims[1:] and rank is not None and rank != len(dims):
        return f"dim: 0 at an axis the bottom ({rank} axes) does not have at the same place in ncnn"
    return None


def _permute(layer, site):
    order = list(layer.permute_param.order)
    return f"order {order}" if order and (order[0] != 0 or len(order) > 4) else None


def _inner_product(layer, site):
    axis = layer.inner_product_param.axis
    return f"axis {axis}" if axis != 1 else None


def _flatten(layer, site):
    p = layer.flatten_param
    return f"axis {p.axis}, end_axis {p.end_axis}" if (p.axis, p.end_axis) != (1, -1) else None


def _scale(layer, site):
    p = layer.scale_param
    if len(layer.bottom) == 1 and (p.axis != 1 or p.num_axes != 1):
        return f"axis {p.axis}, num_axes {p.num_axes}"
    return None


def _ave_pad(layer, site):
    p = layer.pooling_param
    if p.pool == p.AVE and not p.global_pooling and (p.pad or p.pad_h or p.pad_w):
        return f"AVE with pad {max(p.pad, p.pad_h, p.pad_w)}"
    return None


def _crop_reference(layer, site):
    """Caffe's Crop keeps the bottom's extents before ``axis`` and takes the reference's from there; ncnn's
    takes every extent of a 3-D reference (channels, height, width), so they must agree before ``axis``."""
    data, reference = site.bottoms[:2] if len(site.bottoms) == 2 else (None, None)
    if data is None or reference is None or len(data) != len(reference):
        return None
    axis = layer.crop_param.axis % len(data)
    differ = [k for k in range(1, axis) if data[k] != reference[k]]
    return (f"reference {list(reference)} differs from the bottom {list(data)} on axis {differ[0]}, before the "
            f"crop axis {axis}") if differ else None


POINTWISE = frozenset({"Convolution", "ReLU", "Sigmoid", "TanH", "Power", "Scale", "BatchNorm", "PReLU", "ELU",
                       "AbsVal", "BNLL", "Exp", "Log", "Eltwise", "Dropout", "Split"})


def _vector_source(blob, site, depth=0):
    """The global Pooling or InnerProduct whose 1-D ncnn output reaches ``blob`` through pointwise layers."""
    source = site.producers.get(blob)
    if source is None or depth > 50:
        return None
    if source.type == "InnerProduct" or (source.type == "Pooling" and source.pooling_param.global_pooling):
        return source
    if source.type in POINTWISE and source.bottom:
        return _vector_source(source.bottom[0], site, depth + 1)
    return None


def _spatial_on_vector(site):
    layer = site.layer
    if layer.type not in ("Deconvolution", "Crop") or not layer.bottom:
        return None
    source = _vector_source(layer.bottom[0], site)
    return f"reads the 1-D output of {source.name} ({source.type})" if source is not None else None


TARGET = Target("ncnn", "ncnn through caffe2ncnn", (
    layer_types("ncnn.types", refused=REFUSED, source=TOOL + " + ncnn runtime (measured)"),
    batch_axis_kept("ncnn.batch", source=TOOL + " (drops axis 0; axis parameters written as axis − 1)"),
    field_rule("ncnn.reshape", "Reshape", "Reshape to at most 4 axes", _reshape, source=TOOL),
    field_rule("ncnn.permute", "Permute", "Permute keeps axis 0 first, at most 4 axes", _permute,
               source=TOOL + " (other orders are written as the identity)"),
    field_rule("ncnn.inner_product", "InnerProduct", "InnerProduct on axis 1", _inner_product,
               source=TOOL + " (axis not written)"),
    field_rule("ncnn.flatten", "Flatten", "Flatten from axis 1 to the end", _flatten, source=TOOL),
    field_rule("ncnn.scale", "Scale", "one-bottom Scale per channel (axis 1, num_axes 1)", _scale,
               source=TOOL + " (axis, num_axes not written)"),
    field_rule("ncnn.ave_pad", "Pooling", "AVE Pooling without pad", _ave_pad,
               source=TOOL + " + src/layer/pooling.cpp (avgpool_count_include_pad defaults to 0)"),
    field_rule("ncnn.crop", "Crop", "Crop reference with the bottom's extents before the crop axis", _crop_reference,
               source="src/layer/crop.cpp (the output takes every extent of the reference)"),
    Rule("ncnn.vector", "no Deconvolution or Crop on a vector (global Pooling or InnerProduct output, "
         "until a Reshape makes it 4-D)", "src/layer/pooling.cpp, innerproduct.cpp (1-D outputs); measured: "
         "segfault", _spatial_on_vector),
))
