"""A lowering that writes a wrong net fails the export in one line naming the layer, module and source line
(pt2caffe.conversion.verify): a blob Caffe would shape otherwise than PyTorch, weights Caffe would refuse,
a layer Caffe would not even set up. Each case replaces one handler by a faulty one for the test."""
import dataclasses

import numpy as np
import pytest
import torch.nn.functional as F
from torch import nn

from helpers import Lambda, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.lowering.compose import window
from pt2caffe.lowering.registry import HANDLERS


@pytest.fixture
def faulty_handler(monkeypatch):
    """faulty_handler(kind, fn): the op kind lowered by ``fn`` for this test only."""
    def install(kind, fn):
        monkeypatch.setitem(HANDLERS, kind, dataclasses.replace(HANDLERS[kind], fn=fn))
    return install


def _plain_pooling(op, ctx):
    """max_pool2d as one Pooling, claiming PyTorch's shape (the ceil-mode defect of issue 25)."""
    params = {"pool": "MAX", **window(op.arg(1, "kernel_size"), op.arg(2, "stride"), repeated=False)}
    return [ctx.layer("Pooling", [ctx.blob(op.arg(0, "input"))], {"pooling_param": params})] + [None] * (
        len(op.outputs) - 1)


def test_a_blob_caffe_shapes_otherwise_fails_the_export(faulty_handler):
    faulty_handler("max_pool2d", _plain_pooling)
    model = Lambda(lambda self, x: F.max_pool2d(x, 1, stride=2, ceil_mode=True))
    with pytest.raises(Pt2CaffeError) as failure:
        convert(model, random_inputs([(1, 2, 16, 6)]), probe_sizes=False)
    message = str(failure.value)
    assert "\n" not in message
    assert "blob max_pool2d as 1×2×9×4 where PyTorch computes 1×2×8×3 (layer max_pool2d, Pooling)" in message
    assert "test_verify.py:" in message  # the user's source line


def test_a_helper_blob_that_differs_from_the_declared_shape_fails(faulty_handler):
    def relu_with_a_wrong_helper(op, ctx):
        x = ctx.blob(op.arg(0, "input"))
        halving = {"pooling_param": {"pool": "MAX", "kernel_size": 2, "stride": 2}}
        halved = ctx.layer("Pooling", [x], halving, role="helper", shape=x.shape)  # but Caffe halves H and W
        return ctx.layer("ReLU", [halved], shape=x.shape)
    faulty_handler("relu", relu_with_a_wrong_helper)
    with pytest.raises(Pt2CaffeError, match=r"blob relu/helper as 1×3×4×4 where the lowering meant 1×3×8×8"):
        convert(Lambda(lambda self, x: F.relu(x)), random_inputs([(1, 3, 8, 8)]), probe_sizes=False)


def test_weights_caffe_would_refuse_fail_the_export(faulty_handler):
    def conv_with_transposed_weights(op, ctx):
        weight = op.arg(1, "weight").tensor.detach().numpy()
        params = {"num_output": weight.shape[0], "bias_term": False, "kernel_size": [weight.shape[2]]}
        return ctx.layer("Convolution", [ctx.blob(op.arg(0, "input"))], {"convolution_param": params},
                         weights=[ctx.constant(np.swapaxes(weight, 0, 1), "transposed by mistake")])
    faulty_handler("conv2d", conv_with_transposed_weights)
    with pytest.raises(Pt2CaffeError, match=r"has weights \[\[3, 4, 1, 1\]\] where Caffe expects \[\[4, 3, 1, 1\]\]"):
        convert(nn.Sequential(nn.Conv2d(3, 4, 1, bias=False)), random_inputs([(1, 3, 5, 5)]), probe_sizes=False)


def test_a_layer_caffe_would_not_set_up_fails_the_export(faulty_handler):
    def eltwise_of_two_shapes(op, ctx):
        x = ctx.blob(op.arg(0, "input"))
        pooled = ctx.layer("Pooling", [x], {"pooling_param": {"pool": "MAX", "kernel_size": 2}}, role="half",
                           shape=(1, 3, 4, 4))
        return ctx.layer("Eltwise", [x, pooled], {"eltwise_param": {"operation": "SUM"}})
    faulty_handler("relu", eltwise_of_two_shapes)
    with pytest.raises(Pt2CaffeError, match=r"would not load in Caffe: layer 'relu' \(Eltwise\): all inputs must "
                                            r"have the same shape"):
        convert(Lambda(lambda self, x: F.relu(x)), random_inputs([(1, 3, 8, 8)]), probe_sizes=False)
