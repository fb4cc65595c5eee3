"""The shape rules' registry and the blob arithmetic Caffe's Reshape functions share.

A rule maps one layer (its ``caffe_pb2.LayerParameter``, read with protobuf's defaults, which are
caffe.proto's) and its bottom shapes to its top shapes and, where LayerSetUp creates them, the
shapes of its learned blobs. Helpers mirror include/caffe/blob.hpp: ``CanonicalAxisIndex``,
``count``, the legacy num/channels/height/width accessors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ...errors import Pt2CaffeError

Shape = tuple  # of ints; None for an extent only the data decides (DetectionOutput's detections)
INT_MAX = 2 ** 31 - 1


class ShapeError(Pt2CaffeError):
    """Caffe would refuse the net (a CHECK in a layer's LayerSetUp/Reshape or in Net::Init fails); ``layer``
    names the layer (None for a problem of the whole net)."""

    def __init__(self, message: str, layer: str | None = None):
        super().__init__(message)
        self.layer = layer


class Refusal(Exception):
    """Raised by a rule; the driver names the layer (ShapeError)."""


@dataclass
class Out:
    """What a rule found: one shape per top and the shapes of the layer's learned blobs (None: not inferred)."""

    tops: list
    learned: Optional[list] = None


Rule = Callable[..., "Out | list"]
RULES: dict[str, Rule] = {}


def rule(*types: str):
    """Register the decorated function as the shape rule of the layer ``types``."""
    def register(function: Rule) -> Rule:
        for name in types:
            RULES[name] = function
        return function
    return register


def check(condition: bool, problem: str) -> None:
    """Caffe's CHECK: refuse with ``problem`` unless ``condition``."""
    if not condition:
        raise Refusal(problem)


def canonical(shape: Shape, index: int) -> int:
    """Blob::CanonicalAxisIndex (include/caffe/blob.hpp): −n ≤ index < n, negative counts from the end."""
    check(-len(shape) <= index < len(shape), f"axis {index} out of range for a {len(shape)}-D blob {list(shape)}")
    return index + len(shape) if index < 0 else index


def count(shape: Shape, start: int = 0, end: int | None = None) -> int:
    """Blob::count(start, end): the product of the extents in [start, end)."""
    total = 1
    for extent in shape[start:len(shape) if end is None else end]:
        total *= extent
    return total


def legacy(shape: Shape, index: int) -> int:
    """Blob::LegacyShape (num/channels/height/width): at most 4 axes; a missing axis counts as 1."""
    check(len(shape) <= 4, f"a {len(shape)}-D blob {list(shape)} where the layer uses the 4-D accessors "
                           "(num, channels, height, width): at most 4 axes")
    return shape[index] if -len(shape) <= index < len(shape) else 1


def legacy4(shape: Shape) -> Shape:
    """(num, channels, height, width) of ``shape`` by the legacy accessors."""
    return tuple(legacy(shape, i) for i in range(4))


def same_shapes(bottoms: list, what: str = "all inputs must have the same shape") -> None:
    for other in bottoms[1:]:
        check(other == bottoms[0], f"{what}: {[list(b) for b in bottoms]}")


# include/caffe/layers/*.hpp: Exact/Min/MaxNum{Bottom,Top}Blobs, as (min bottoms, max bottoms, min tops, max tops);
# None = no limit. Layer::CheckBlobCounts (include/caffe/layer.hpp) enforces them before LayerSetUp.
_ONE_ONE = (1, 1, 1, 1)
COUNTS: dict[str, tuple] = {
    **{name: _ONE_ONE for name in (
        "AbsVal BNLL Dropout ELU Exp Log Power PReLU ReLU Sigmoid TanH Threshold ArgMax BatchNorm Embed "
        "Flatten Im2col InnerProduct LRN MVN Normalize Permute Reduction Reshape Softmax SPP Tile").split()},
    "BatchReindex": (2, 2, 1, 1), "Crop": (2, 2, 1, 1),
    "Bias": (1, 2, 1, 1), "Scale": (1, 2, 1, 1),
    "Concat": (1, None, 1, 1), "Eltwise": (2, None, 1, 1),
    "Slice": (1, 1, 1, None), "Split": (1, 1, 1, None), "Silence": (1, None, 0, 0),
    "Input": (0, 0, 1, None), "DummyData": (0, 0, 1, None), "Parameter": (0, 0, 1, 1),
    "PriorBox": (1, None, 1, 1), "DetectionOutput": (3, 4, 1, 1),
    "Filter": (2, None, 1, None),
}


def check_counts(layer_type: str, bottoms: int, tops: int, max_tops: int | None = None) -> None:
    """Layer::CheckBlobCounts for ``layer_type`` (``max_tops`` overrides the table, e.g. Pooling's 1 or 2)."""
    low_b, high_b, low_t, high_t = COUNTS.get(layer_type, (None, None, None, None))
    high_t = max_tops if max_tops is not None else high_t
    for have, low, high, what in ((bottoms, low_b, high_b, "bottom"), (tops, low_t, high_t, "top")):
        if low is not None and have < low or high is not None and have > high:
            wanted = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
            raise Refusal(f"{layer_type} takes {wanted} {what} blob(s), got {have}")
