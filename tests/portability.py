"""Layer forms that OpenCV dnn 4.14 or MNN 3.6.1 cannot run although stock Caffe does (measured), and a
check that an exported net has none of them. The README's runtime table lists the same forms."""
from __future__ import annotations

import math

from pt2caffe.net.targets.runtimes import MNN_SOFTMAX_AXIS, MNN_SOFTMAX_INNER
from pt2caffe.net.proto import read_prototxt
from pt2caffe.net.shapes import layer_shapes


def unportable_layers(prototxt: str) -> list[str]:
    """One line per layer of the net that some runtime cannot load or computes wrongly."""
    found = []
    for entry in layer_shapes(read_prototxt(prototxt)):
        problem = _problem(entry.layer) or _shape_problem(entry.layer, entry.bottoms)
        if problem:
            found.append(f"{entry.layer.name} ({entry.layer.type}): {problem}")
    return found


def _shape_problem(layer, bottoms) -> str | None:
    if layer.type == "Softmax" and bottoms:
        axis = layer.softmax_param.axis % len(bottoms[0])
        if bottoms[0][axis] < MNN_SOFTMAX_AXIS and math.prod(bottoms[0][axis + 1:]) > MNN_SOFTMAX_INNER:
            return "an axis of < 8 entries with > 8 positions after it: MNN saturates large logits"
    return None


def _problem(layer) -> str | None:
    if layer.type in ("Tile", "Reduction", "Parameter", "Bias"):
        return "OpenCV cannot load it" if layer.type != "Tile" else "OpenCV cannot load it, MNN fails"
    if layer.type == "Scale" and len(layer.bottom) > 1:
        return "two bottoms: MNN's converter crashes"
    if layer.type == "Scale" and (layer.scale_param.axis, layer.scale_param.num_axes) != (1, 1):
        return "axis/num_axes other than 1/1: MNN computes it wrong"
    if layer.type == "InnerProduct" and layer.inner_product_param.axis != 1:
        return "axis ≠ 1: MNN returns an empty output"
    if layer.type == "LRN" and layer.lrn_param.k != 1:
        return "k ≠ 1: OpenCV and MNN ignore k"
    if layer.type == "Log" and layer.log_param.base == -1:
        return "default base (−1, e): MNN's converter turns it into the identity"
    if layer.type == "Eltwise" and any(abs(c) != 1 for c in layer.eltwise_param.coeff):
        return "a SUM coefficient other than ±1: MNN's forward fails"
    return None


def assert_portable(tmp_path) -> None:
    """Assert the net exported to ``tmp_path``/net.prototxt uses only forms every runtime runs."""
    found = unportable_layers(str(tmp_path / "net.prototxt"))
    assert not found, "layer forms OpenCV or MNN cannot run: " + "; ".join(found)
