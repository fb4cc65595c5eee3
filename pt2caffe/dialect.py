"""Which Caffe the net is for: the layer types and parameter fields it has.

Caffe aborts on an unknown layer type or field, so every layer the builder
emits is checked against the target before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Pt2CaffeError

# The inference layers of stock SSD Caffe (weiliu89/caffe, branch ssd).
SSD_LAYERS = frozenset("""
AbsVal ArgMax BatchNorm BatchReindex Bias BNLL Concat Convolution Crop Deconvolution Dropout
DummyData Eltwise ELU Embed Exp Filter Flatten InnerProduct Input Log LRN MVN Parameter Pooling
Power PReLU Reduction ReLU Reshape Scale Sigmoid Silence Slice Softmax Split SPP TanH Threshold
Tile Normalize Permute PriorBox DetectionOutput
""".split())

# Fields our caffe.proto declares for the reference fork only (absent from stock SSD Caffe).
FORK_ONLY_FIELDS = {"pooling_param": frozenset({"ceil_mode", "round_mode"})}


@dataclass(frozen=True)
class Dialect:
    name: str
    layers: frozenset[str]
    forbidden_fields: dict[str, frozenset[str]] = field(default_factory=dict)
    pooling_ceil_field: str | None = None  # name of a pooling rounding switch, if the target has one

    def has(self, layer_type: str) -> bool:
        return layer_type in self.layers

    def validate(self, layer_name: str, layer_type: str, params: dict) -> None:
        if layer_type not in self.layers:
            raise Pt2CaffeError(f"internal: layer {layer_name} has type {layer_type}, "
                                f"which the {self.name} target does not have")
        for param_name, fields in params.items():
            bad = self.forbidden_fields.get(param_name, frozenset()) & set(fields)
            if bad:
                raise Pt2CaffeError(f"internal: layer {layer_name} sets {param_name}.{sorted(bad)[0]}, "
                                    f"which the {self.name} target does not have")


STOCK_SSD = Dialect("ssd", SSD_LAYERS, FORK_ONLY_FIELDS)

# The reference build (brocolli-caffe 9.0.2): SSD Caffe plus a few fork layers and pooling ceil_mode.
BROCOLLI = Dialect("brocolli", SSD_LAYERS | {"ReLU6", "HardSwish", "HardSigmoid", "Upsample", "Pad", "PixelShuffle"},
                   {"pooling_param": frozenset({"round_mode"})}, pooling_ceil_field="ceil_mode")

TARGETS = {dialect.name: dialect for dialect in (STOCK_SSD, BROCOLLI)}


def target(name: str) -> Dialect:
    if name not in TARGETS:
        raise Pt2CaffeError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    return TARGETS[name]
