"""The runtimes the project runs itself: pycaffe (stock SSD Caffe), OpenCV dnn 4.x and MNN 3.6.1, and
``portable`` (all three: the default). Each rule is a layer form measured not to run right there:
pt2caffe.runtimes.forms holds the one- or two-layer nets and tests/runtimes/test_forms.py runs them.
"""
from __future__ import annotations

import math

from .rules import axis_of, field_rule, layer_types, pooling_mask
from .target import Target

MEASURED = "measured: pt2caffe.runtimes.forms (tests/runtimes/test_forms.py)"


def _deconv_dilation(layer, site):
    dilation = [d for d in layer.convolution_param.dilation if d != 1]
    return f"dilation {dilation[0]}" if dilation else None


def _lrn_k(layer, site):
    return f"k {layer.lrn_param.k:g}" if layer.lrn_param.k != 1 else None


def _two_bottoms(layer, site):
    return "two bottoms" if len(layer.bottom) == 2 else None


def _log_base(layer, site):
    return "base −1 (the default: e)" if layer.log_param.base == -1 else None


def _coefficients(layer, site):
    p = layer.eltwise_param
    bad = [c for c in p.coeff if abs(c) != 1]
    return f"coefficient {bad[0]:g}" if p.operation == p.SUM and bad else None


def _inner_product_after_batch_reshape(layer, site):
    source = site.producers.get(layer.bottom[0]) if layer.bottom else None
    if source is not None and source.type == "Reshape":
        dims = list(source.reshape_param.shape.dim)
        if dims and dims[0] != 0:
            return f"reads {source.name}, a Reshape to {dims} (axis 0 not copied)"
    return None


# MNN 3.6.1 computes a Softmax whose axis has fewer than 8 entries and more than 8 positions after it without
# subtracting the maximum: logits beyond about ±87 saturate (measured on (1, C, L) blobs, C 2…21, L 1…100).
MNN_SOFTMAX_AXIS, MNN_SOFTMAX_INNER = 8, 8


def _softmax_without_maximum(layer, site):
    shape = site.bottoms[0] if site.bottoms else None
    if shape is None:
        return None
    axis = axis_of(layer, len(shape))
    inner = math.prod(shape[axis + 1:])
    if shape[axis] < MNN_SOFTMAX_AXIS and inner > MNN_SOFTMAX_INNER:
        return f"axis {axis} of {list(shape)}: {shape[axis]} entries with {inner} positions after it"
    return None


OPENCV_RULES = (
    layer_types("opencv.types", refused={
        "Reduction": "OpenCV's Caffe importer has no Reduction layer",
        "Tile": "'repeats needs to be treated as parameter'",
        "Bias": "OpenCV's Caffe importer has no Bias layer",
        "Parameter": "OpenCV's Caffe importer has no Parameter layer"}, source=MEASURED),
    field_rule("opencv.deconv_dilation", "Deconvolution", "Deconvolution without dilation", _deconv_dilation,
               source=MEASURED + ": dilation ignored (smaller output)"),
    field_rule("opencv.lrn_k", "LRN", "LRN with k = 1", _lrn_k, source=MEASURED + ": k ignored"),
)
MNN_RULES = (
    layer_types("mnn.types", refused={"Tile": "MNN's Caffe converter fails on it",
                                      "Bias": "NaN output (two bottoms)"}, source=MEASURED),
    field_rule("mnn.scale", "Scale", "Scale with one bottom", _two_bottoms,
               source=MEASURED + ": the converter crashes"),
    field_rule("mnn.lrn_k", "LRN", "LRN with k = 1", _lrn_k, source=MEASURED + ": k ignored"),
    field_rule("mnn.log_base", "Log", "Log with its base written out", _log_base,
               source=MEASURED + ": the converter drops the log"),
    field_rule("mnn.eltwise_coeff", "Eltwise", "Eltwise SUM coefficients ±1", _coefficients,
               source=MEASURED + ": the forward fails"),
    field_rule("mnn.inner_product", "InnerProduct", "InnerProduct not right after a Reshape of the batch axis",
               _inner_product_after_batch_reshape, source=MEASURED + ": empty output"),
    pooling_mask("mnn.pooling_mask", source=MEASURED + ": empty output"),
    field_rule("mnn.softmax", "Softmax", "Softmax over the last axis, or over 8+ entries, or with ≤ 8 positions after "
               "its axis", _softmax_without_maximum,
               source=MEASURED + ": large logits saturate (no max subtraction)"),
)

PYCAFFE = Target("pycaffe", "stock SSD Caffe (pycaffe): the reference", (), checked_by="pycaffe")
OPENCV = Target("opencv", "OpenCV dnn 4.x (the last line with a Caffe importer)", OPENCV_RULES, checked_by="opencv")
MNN = Target("mnn", "MNN 3.6.1 (its Caffe converter)", MNN_RULES, checked_by="mnn")
PORTABLE = Target("portable", "pycaffe, OpenCV 4.x and MNN alike (the default)", OPENCV_RULES + MNN_RULES)
