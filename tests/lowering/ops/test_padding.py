"""Padding in every mode (F.pad, the nn.*Pad* modules, constant_pad_nd) against real Caffe and OpenCV."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, layer_types, random_inputs
from pt2caffe.lowering.ops.padding import source_indices

PADS = {  # name: F.pad pad argument (last axis first)
    "symmetric": (1, 1, 1, 1),
    "asymmetric": (0, 1, 2, 0),
    "width_only": (2, 3, 0, 0),
    "height_only": (0, 0, 3, 1),
    "large": (4, 2, 1, 4),
    "negative": (-1, 2, 1, -2),
    "crop_only": (-2, -1, -1, 0),
}
MODE_PADS = {  # reflect needs pads below the size, and no mode but constant takes negative pads
    "constant": list(PADS),
    "reflect": ["symmetric", "asymmetric", "width_only", "height_only", "large"],
    "replicate": ["symmetric", "asymmetric", "width_only", "height_only", "large"],
    "circular": ["symmetric", "asymmetric", "width_only", "height_only", "large"],
}
CASES = [(mode, name) for mode, names in MODE_PADS.items() for name in names]


@pytest.mark.parametrize("mode,name", CASES)
def test_pad(tmp_path, mode, name):
    model = Lambda(lambda self, x: F.pad(x, PADS[name], mode=mode))
    export_and_compare(model, random_inputs([(1, 3, 5, 6)]), tmp_path)


@pytest.mark.parametrize("name", PADS)
@pytest.mark.parametrize("value", [2.5, -1.0])
def test_pad_constant_value(tmp_path, name, value):
    model = Lambda(lambda self, x: F.pad(x, PADS[name], value=value))
    export_and_compare(model, random_inputs([(1, 3, 5, 6)]), tmp_path)


@pytest.mark.parametrize("module", [nn.ZeroPad2d((0, 1, 0, 1)), nn.ConstantPad2d(2, 0.5),
                                    nn.ReflectionPad2d((1, 2, 0, 3)), nn.ReplicationPad2d(2), nn.CircularPad2d(1)],
                         ids=["ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"])
def test_pad_modules(tmp_path, module):
    export_and_compare(nn.Sequential(module), random_inputs([(1, 2, 7, 6)]), tmp_path)


def test_zero_pad_is_one_convolution(tmp_path):
    """YOLO's ZeroPad2d((0, 1, 0, 1)): a 2×2 one-hot kernel with pad 1 in one layer, no Slice."""
    model = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)))
    export_and_compare(model, random_inputs([(1, 4, 13, 13)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "Convolution"]
    text = (tmp_path / "net.prototxt").read_text()
    assert "kernel_size: 2" in text and "pad: 1" in text and "pad_h" not in text  # x2paddle reads only pad


@pytest.mark.parametrize("pad,value", [((0, 0, 0, 0, 1, 2), 0.0), ((0, 0, 0, 0, 2, 0), -1.5),
                                       ((1, 0, 0, 2, 1, 1), 0.0), ((1, 1, 0, 0, 1, 0), 3.0)],
                         ids=["channels", "channels_value", "channels_and_spatial", "channels_width_value"])
def test_pad_channels(tmp_path, pad, value):
    export_and_compare(Lambda(lambda self, x: F.pad(x, pad, value=value)), random_inputs([(1, 3, 5, 6)]), tmp_path)


@pytest.mark.parametrize("shape,pad,mode", [
    ((1, 3, 10), (2, 3), "constant"),
    ((1, 3, 10), (3, 1), "reflect"),
    ((1, 3, 10), (2, 2), "replicate"),
    ((2, 3, 4, 5, 6), (1, 1, 0, 2, 1, 0), "replicate"),
], ids=["1d_constant", "1d_reflect", "1d_replicate", "3d_replicate"])
def test_pad_other_ranks(tmp_path, shape, pad, mode):
    export_and_compare(Lambda(lambda self, x: F.pad(x, pad, mode=mode)), random_inputs([shape]), tmp_path)


def test_constant_pad_nd(tmp_path):
    model = Lambda(lambda self, x: torch.constant_pad_nd(x, (1, 2, -1, 1), 0.25))
    export_and_compare(model, random_inputs([(1, 3, 5, 6)]), tmp_path)


def test_padded_map_feeds_a_convolution(tmp_path):
    """UNet's decoder: F.pad to the skip connection's size, then cat and conv."""
    conv = nn.Conv2d(8, 4, 3, padding=1)
    model = Lambda(lambda self, up, skip: self.conv(torch.cat([skip, F.pad(up, [0, 1, 1, 0])], 1)), conv=conv)
    export_and_compare(model, random_inputs([(1, 4, 8, 9), (1, 4, 9, 10)]), tmp_path)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_source_indices_match_torch(mode):
    size = 6
    for before, after in [(0, 0), (2, 3), (5, 1), (-2, 3)]:
        if mode != "constant" and min(before, after) < 0:
            continue
        line = torch.arange(1.0, size + 1).reshape(1, 1, size)
        padded = F.pad(line, (before, after), mode=mode).reshape(-1).numpy()
        sources = source_indices(size, before, after, mode)
        np.testing.assert_array_equal(padded, np.where(sources >= 0, sources + 1, 0))
