"""Every layer type and parameter field emitted by default belongs to stock SSD Caffe."""
import pytest

import zoo
from pt2caffe.convert import convert
from pt2caffe.loading import random_inputs
from pt2caffe.serialize import net_proto

# The inference layers of weiliu89/caffe, branch ssd (from the issue, independent of pt2caffe.dialect).
STOCK_SSD_LAYERS = set("""
AbsVal ArgMax BatchNorm BatchReindex Bias BNLL Concat Convolution Crop Deconvolution Dropout DummyData
Eltwise ELU Embed Exp Filter Flatten InnerProduct Input Log LRN MVN Parameter Pooling Power PReLU
Reduction ReLU Reshape Scale Sigmoid Silence Slice Softmax Split SPP TanH Threshold Tile
Normalize Permute PriorBox DetectionOutput
""".split())
# Fields that exist only in forks (the reference build or BVLC master), never in stock SSD Caffe.
FORK_FIELDS = {"ceil_mode", "round_mode", "upsample_param", "hardsigmoid_param", "relu6_param", "pad_param",
               "pixelshuffle_param"}


def set_fields(message, prefix=""):
    for field, value in message.ListFields():
        yield prefix + field.name
        if field.message_type is not None:
            items = [value] if hasattr(value, "ListFields") else value
            for item in items:
                yield from set_fields(item, prefix + field.name + ".")


@pytest.mark.parametrize("name", zoo.ZOO)
def test_zoo_model_uses_only_stock_ssd_caffe(name):
    model, shapes = zoo.load(name)
    proto = net_proto(convert(model, random_inputs(shapes)).net)
    types = {layer.type for layer in proto.layer}
    assert types <= STOCK_SSD_LAYERS, types - STOCK_SSD_LAYERS
    fields = {path.rsplit(".", 1)[-1] for layer in proto.layer for path in set_fields(layer)}
    assert not fields & FORK_FIELDS
