"""The net as written, shaped by Caffe's own rules (pt2caffe.net.shapes), against what the lowering meant.

Every blob's shape is inferred from the layers alone, as stock Caffe's Reshape functions compute it, and
compared with the traced shape of the value it holds (and, for helper blobs, with the shape the handler
declared); every layer's weights with the learned blobs Caffe's LayerSetUp creates. A difference means
the export would compute something else than PyTorch (a blob of the wrong size) or not load at all, so
the export fails, in one line naming the layer, its module and the user's source line.
"""
from __future__ import annotations

from ..errors import Pt2CaffeError
from ..net.builder import Layer, NetBuilder
from ..net.shapes import ShapeError, layer_shapes


def verify_shapes(net: NetBuilder, traced: dict[str, tuple[int, ...]]) -> None:
    """Raise Pt2CaffeError at the first layer of ``net`` whose Caffe top shapes differ from ``traced``
    ({blob name: the shape PyTorch gave the value it holds}) or from the handler's declared shapes, or
    whose weights differ from the learned blobs Caffe creates, or that Caffe would refuse."""
    by_name = {layer.name: layer for layer in net.layers}
    try:
        entries = layer_shapes(net.layers, {blob.name: blob.shape for blob in net.inputs})
    except ShapeError as error:
        where = _where(by_name.get(error.layer))
        raise Pt2CaffeError(f"internal: the written net would not load in Caffe: {error}{where}") from None
    for entry in entries:
        layer = by_name[entry.layer.name]
        for top, inferred, declared in zip(layer.tops, entry.tops, layer.top_shapes or [None] * len(layer.tops)):
            wanted = traced.get(top, declared)
            if wanted is not None and not _same(inferred, wanted):
                what = "PyTorch computes" if top in traced else "the lowering meant"
                raise Pt2CaffeError(f"internal: Caffe would compute blob {top} as {_text(inferred)} where {what} "
                                    f"{_text(wanted)} (layer {layer.name}, {layer.type}){_where(layer)}")
        _check_weights(layer, entry.learned)


def _check_weights(layer: Layer, learned) -> None:
    """Net::CopyTrainedLayersFrom refuses a caffemodel blob whose count or shape differs from LayerSetUp's."""
    if not layer.weights or learned is None:
        return
    written = [tuple(weight.array.shape) for weight in layer.weights]
    if len(written) != len(learned) or not all(_same(a, b) for a, b in zip(written, learned)):
        raise Pt2CaffeError(f"internal: layer {layer.name} ({layer.type}) has weights {[list(s) for s in written]} "
                            f"where Caffe expects {[list(s) for s in learned]}{_where(layer)}")


def _same(inferred, wanted) -> bool:
    """Equal shapes; an extent only the data decides (None) matches any."""
    return len(inferred) == len(wanted) and all(a is None or b is None or a == b for a, b in zip(inferred, wanted))


def _text(shape) -> str:
    return "×".join("?" if d is None else str(d) for d in shape) or "a scalar"


def _where(layer: Layer | None) -> str:
    if layer is None or not (layer.module or layer.source):
        return ""
    return f", written for {layer.module or 'the model'} ({layer.source})"
