"""Why an imported model differs from the Caffe net: the first paired unit whose output differs while
its inputs agree is explained by what differs *around* it in the two definitions — the unit's own
settings (stride, padding, dilation, groups, eps), the parameter-free layers between it and the units
it reads (an extra ReLU, a pooling with other windows), or, at the first layer, the channel order of
the input (RGB vs BGR)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .caffe_net import CaffeLayer
from .units import Unit

def _two(values, height: int, width: int, default: int) -> tuple[int, int]:
    """Caffe's (h, w) of a repeated field or its _h/_w pair (conv_layer / base_conv_layer.cpp)."""
    if height or width:
        return height, width
    values = list(values) or [default]
    return values[0], values[1] if len(values) > 1 else values[0]


def settings(layer: CaffeLayer) -> dict:
    """What a unit's layer computes beyond its blob shapes, with Caffe's defaults filled in."""
    proto = layer.proto
    if layer.type in ("Convolution", "Deconvolution"):
        c = proto.convolution_param
        return {"kernel": _two(c.kernel_size, c.kernel_h, c.kernel_w, 1), "stride": _two(c.stride, c.stride_h, c.stride_w, 1),
                "pad": _two(c.pad, c.pad_h, c.pad_w, 0), "dilation": _two(c.dilation, 0, 0, 1), "groups": c.group}
    if layer.type == "BatchNorm":
        return {"eps": round(proto.batch_norm_param.eps, 9)}
    if layer.type == "Normalize":
        return {"across_spatial": proto.norm_param.across_spatial, "eps": proto.norm_param.eps}
    return {}


def setting_differences(unit: Unit, other: Unit) -> list[str]:
    mine, theirs = settings(unit.layers[0]), settings(other.layers[0])
    return [f"{name} {mine[name]} in PyTorch, {theirs[name]} in Caffe" for name in mine
            if name in theirs and mine[name] != theirs[name]]


def chain(layer_name_top: str, producer: dict, stop: set) -> list[str]:
    """The parameter-free layers between a unit's input blob and the units/inputs it comes from."""
    found, todo, seen = [], [layer_name_top], set()
    while todo:
        blob = todo.pop()
        layer = producer.get(blob)
        if blob in stop or layer is None or id(layer) in seen:
            continue
        seen.add(id(layer))
        if layer.type not in ("Dropout", "Split", "Flatten", "Reshape", "Crop"):
            found.append(describe(layer) + (f" at {layer.origin}" if layer.origin else ""))
        todo.extend(layer.bottoms[:1] if layer.type == "Crop" else layer.bottoms)
    grouped = []
    for item in reversed(found):
        if grouped and grouped[-1][0] == item:
            grouped[-1][1] += 1
        else:
            grouped.append([item, 1])
    return [item if count == 1 else f"{count} × {item}" for item, count in grouped]


def describe(layer: CaffeLayer) -> str:
    proto = layer.proto
    if layer.type == "Pooling":
        p = proto.pooling_param
        kind = "MAX" if p.pool == 0 else "AVE" if p.pool == 1 else str(p.pool)
        if p.global_pooling:
            return f"Pooling {kind} global"
        return f"Pooling {kind} {p.kernel_size or (p.kernel_h, p.kernel_w)}/{p.stride or 1} pad {p.pad}"
    if layer.type == "ReLU" and proto.relu_param.negative_slope:
        return f"ReLU slope {proto.relu_param.negative_slope:g}"
    if layer.type == "LRN":
        p = proto.lrn_param
        return f"LRN {p.local_size} α {p.alpha:g} β {p.beta:g}"
    return layer.type


def explain(first: dict, imported, values: dict, caffe: dict) -> str:
    unit = next((u for u, o in imported.pairs.items() if u.out == first.get("torch_blob")), None)
    if unit is None:
        return ""
    other = imported.pairs[unit]
    reasons = setting_differences(unit, other)
    mine = chain(unit.layers[0].bottoms[0], imported.torch.net.producer(), {u.out for u in imported.torch.units})
    theirs = chain(other.layers[0].bottoms[0], imported.user.producer(), {u.out for u in imported.user_units})
    if mine != theirs:
        reasons.append(f"before it PyTorch computes [{', '.join(mine) or 'nothing'}] where Caffe computes "
                       f"[{', '.join(theirs) or 'nothing'}]")
    if other.source == ("in", 0) and _channels_reversed(other, values, caffe, imported, first):
        reasons.append("the Caffe net reads the input channels in the other order (RGB vs BGR)")
    where = f"PyTorch {unit.layers[0].origin or unit.name} vs Caffe {other.name}"
    return (f"the PyTorch definition differs from the Caffe net at {where}: " + "; ".join(reasons)) if reasons else ""


def _channels_reversed(other: Unit, values: dict, caffe: dict, imported, first) -> bool:
    """Does Caffe's first layer, fed the input with its channels reversed, give PyTorch's values?"""
    layer = other.layers[0]
    if layer.type != "Convolution" or first.get("torch_blob") not in values:
        return False
    data = values.get(imported.torch.net.inputs[0])
    if data is None or data.ndim != 4 or data.shape[1] != 3:
        return False
    s = settings(layer)
    weight = torch.from_numpy(layer.blobs[0])
    bias = torch.from_numpy(layer.blobs[1].reshape(-1)) if len(layer.blobs) > 1 else None
    flipped = F.conv2d(torch.from_numpy(np.ascontiguousarray(data[:, ::-1])), weight, bias, s["stride"], s["pad"],
                       s["dilation"], s["groups"]).numpy()
    reference = values[first["torch_blob"]]
    return flipped.shape == reference.shape and np.abs(flipped - reference).max() <= 1e-4 * np.abs(reference).max()
