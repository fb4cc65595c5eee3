"""Exp, ELU, log-softmax and norms without Exp/ELU/Log/MVN layers (compose.exponential, ops.normalization): the
forms ``--target rknn`` chooses, since RKNN loads those layer types and computes something else (issue 24's
measurements). Each model is exported with the portable forms and under rknn (which must be lint clean, so no
Exp, ELU, Log or MVN), and both nets are compared in pycaffe, OpenCV and MNN."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import Lambda, export_and_compare, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.net.targets import TARGETS

FUNCTIONS = {
    "exp": lambda x: torch.exp(x * 4),  # up to e⁴ and down to e⁻⁴
    "power_of_three": lambda x: 3.0 ** x,
    "elu": lambda x: F.elu(x * 3, 0.7),
    "selu": lambda x: F.selu(x * 3),
    "log_softmax_channels": lambda x: F.log_softmax(x * 8, 1),  # 7 channels: an odd entry carried
    "log_softmax_last": lambda x: F.log_softmax(x * 8, -1),
    "gelu_erf": F.gelu,
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_without_refused_layers(tmp_path, name):
    fn = FUNCTIONS[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(2, 7, 3, 5)]), tmp_path, targets=("rknn",))


@pytest.mark.parametrize("norm, shape", [(nn.LayerNorm(16), (2, 5, 16)), (nn.GroupNorm(3, 12), (2, 12, 5, 7)),
                                         (nn.InstanceNorm2d(4, affine=True), (2, 4, 6, 5))])
def test_norm_without_mvn(tmp_path, norm, shape):
    with torch.no_grad():
        for parameter in norm.parameters():
            parameter.uniform_(-1, 1)
    export_and_compare(nn.Sequential(norm), random_inputs([shape]), tmp_path, targets=("rknn",))


def test_the_portable_export_keeps_the_single_layers():
    """The sigmoid forms cost more layers: only a target that refuses Exp/ELU gets them."""
    model = Lambda(lambda self, x: F.elu(torch.exp(x)))
    portable = convert(model, random_inputs([(1, 3, 4, 4)]), probe_sizes=False)
    rknn = convert(model, random_inputs([(1, 3, 4, 4)]), probe_sizes=False, target=TARGETS["rknn"])
    assert [layer.type for layer in portable.net.layers] == ["Input", "Exp", "ELU"]
    assert not {"Exp", "ELU"} & {layer.type for layer in rknn.net.layers} and not rknn.lint
