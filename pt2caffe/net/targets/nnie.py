"""HiSilicon NNIE (``nnie_mapper``, Caffe only). The SDK is not public: lint only.

Sources: the HiSVP development guide's network restrictions (§3.1.6) as quoted in public vendor
integration notes (no first-hand copy is reachable); nnie_mapper's own error message for Permute, quoted
in Wulingtian/yolov5_onnx2caffe#8.
"""
from __future__ import annotations

from .rules import batch_axis_kept, blob_rank, field_rule, max_extent, window_range
from .target import Target

HISVP = "HiSVP development guide §3.1.6, as quoted in vendor integration notes"
MAPPER = "nnie_mapper: 'Permute can only support (0,1,2,3) -> (0,2,3,1) order!' (Wulingtian/yolov5_onnx2caffe#8)"
POWERS = frozenset({-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0})
MAX_GROUP = 2048


def _permute(layer, site):
    order = list(layer.permute_param.order)
    return None if order in ([], [0, 1, 2, 3], [0, 2, 3, 1]) else f"order {order}"


def _reshape(layer, site):
    dims = list(layer.reshape_param.shape.dim)
    if len(dims) != 4 or dims[0] != 0:
        return f"shape {dims}"
    return None


def _power(layer, site):
    power = layer.power_param.power
    return None if power in POWERS else f"exponent {power:g}"


def _group(layer, site):
    group = layer.convolution_param.group
    return f"group {group}" if group > MAX_GROUP else None


TARGET = Target("nnie", "HiSilicon NNIE (nnie_mapper)", (
    batch_axis_kept("nnie.batch", source=HISVP),
    blob_rank("nnie.rank", frozenset({2, 4}), source=HISVP + " (4-D NCHW feature maps; 2-D only as vectors)"),
    field_rule("nnie.reshape", "Reshape", "Reshape to 4 axes, the first dim: 0", _reshape, source=HISVP),
    field_rule("nnie.permute", "Permute", "Permute only (0,1,2,3) → (0,2,3,1)", _permute, source=MAPPER),
    field_rule("nnie.power", "Power", "Power exponent only ±3, ±2, ±1, ±½", _power, source=HISVP),
    field_rule("nnie.group", "Convolution", f"Convolution group at most {MAX_GROUP}", _group, source=HISVP),
    field_rule("nnie.group_deconv", "Deconvolution", f"Deconvolution group at most {MAX_GROUP}", _group, source=HISVP),
    window_range("nnie.window", 1, 255, source=HISVP),
    max_extent("nnie.extent", 4096, source=HISVP),
))
