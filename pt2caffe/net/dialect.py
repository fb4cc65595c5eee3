"""Which Caffe the net is for: the layer types it has.

Caffe aborts on an unknown layer type, so every layer the builder emits is
checked against the target before anything is written. The target is stock SSD
Caffe (weiliu89/caffe, branch ssd, 4817bf8b); tests/net/test_dialect.py checks the
list below against that build's own ``caffe.layer_type_list()``. Fields need no
check here: proto/caffe.proto declares exactly stock's fields
(tests/net/test_proto_schema.py), so a field stock lacks cannot even be set.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import Pt2CaffeError

# The inference layers of stock SSD Caffe (weiliu89/caffe, branch ssd): its layer_type_list()
# less the data, loss, training-only and Python layers (tests/net/test_dialect.py lists those).
SSD_LAYERS = frozenset("""
AbsVal ArgMax BatchNorm BatchReindex Bias BNLL Concat Convolution Crop Deconvolution Dropout
DummyData Eltwise ELU Embed Exp Filter Flatten Im2col InnerProduct Input Log LRN LSTM LSTMUnit MVN
Parameter Pooling Power PReLU Reduction ReLU Reshape RNN Scale Sigmoid Silence Slice Softmax Split
SPP TanH Threshold Tile Normalize Permute PriorBox DetectionOutput
""".split())


@dataclass(frozen=True)
class Dialect:
    name: str
    layers: frozenset[str]

    def validate(self, layer_name: str, layer_type: str) -> None:
        """Raise Pt2CaffeError (an internal error: a handler's bug) for a layer type the target lacks."""
        if layer_type not in self.layers:
            raise Pt2CaffeError(f"internal: layer {layer_name} has type {layer_type}, "
                                f"which the {self.name} target does not have")


STOCK_SSD = Dialect("ssd", SSD_LAYERS)
