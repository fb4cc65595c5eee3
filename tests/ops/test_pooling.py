"""Pooling against real Caffe: every rounding and padding case PyTorch has."""
import pytest
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, layer_types, random_inputs
from pt2caffe.ops.pooling import caffe_pooled_size

CASES = [  # (input H×W, kernel, stride, padding, ceil_mode)
    (112, 3, 2, 1, False),  # ResNet stem: 56 in torch, 57 in Caffe
    (15, 3, 2, 0, False),
    (15, 3, 2, 0, True),
    (7, 2, 2, 0, False),  # k2 s2 on an odd size
    (7, 2, 2, 0, True),
    (13, 3, 2, 1, True),
    (10, 3, 3, 1, True),
    (9, (3, 2), (2, 1), (1, 0), False),
]


@pytest.mark.parametrize("size,kernel,stride,padding,ceil", CASES)
def test_max_pool(tmp_path, size, kernel, stride, padding, ceil):
    model = nn.Sequential(nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil))
    export_and_compare(model, random_inputs([(1, 3, size, size + 1)]), tmp_path, opencv=True)


@pytest.mark.parametrize("size,kernel,stride,padding,ceil", CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool(tmp_path, size, kernel, stride, padding, ceil, count_include_pad):
    model = nn.Sequential(nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil, count_include_pad=count_include_pad))
    export_and_compare(model, random_inputs([(1, 3, size, size)]), tmp_path, opencv=True)


def test_stem_pool_is_cropped_not_repadded(tmp_path):
    """112 → 56 in floor mode: Caffe's 57th row is dropped, the padding stays 1."""
    assert caffe_pooled_size(112, 3, 2, 1) == 57
    export_and_compare(nn.Sequential(nn.MaxPool2d(3, 2, 1)), random_inputs([(1, 2, 112, 112)]), tmp_path)
    text = (tmp_path / "net.prototxt").read_text()
    assert "pad_h: 1" in text and "Slice" in text


def test_divisor_override(tmp_path):
    model = Lambda(lambda self, x: F.avg_pool2d(x, 3, 2, 1, divisor_override=4))
    export_and_compare(model, random_inputs([(1, 2, 11, 11)]), tmp_path)


@pytest.mark.parametrize("output", [1, (1, 1), 2, (3, 4)])
def test_adaptive_pools(tmp_path, output):
    model = Lambda(lambda self, x: (F.adaptive_avg_pool2d(x, output), F.adaptive_max_pool2d(x, output)))
    export_and_compare(model, random_inputs([(1, 4, 12, 12)]), tmp_path, opencv=True)


def test_stock_target_has_no_ceil_mode_field(tmp_path):
    export_and_compare(nn.Sequential(nn.MaxPool2d(3, 2)), random_inputs([(1, 2, 16, 16)]), tmp_path)
    assert "ceil_mode" not in (tmp_path / "net.prototxt").read_text()
    assert layer_types(tmp_path) == ["Input", "Pooling", "Slice", "Slice", "Silence"]


def test_fork_target_uses_ceil_mode(tmp_path):
    export_and_compare(nn.Sequential(nn.MaxPool2d(3, 2)), random_inputs([(1, 2, 16, 16)]), tmp_path,
                       target="brocolli")
    assert "ceil_mode: false" in (tmp_path / "net.prototxt").read_text()
