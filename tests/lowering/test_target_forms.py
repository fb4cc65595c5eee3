"""The forms handlers offer through ``ctx.choose`` for targets that keep the batch axis apart (NNIE, ncnn: no
view folding axes into the batch, Reshape of at most 4 axes; NNIE also blobs of 2 or 4 axes and Permute
(0, 2, 3, 1) only), and for RKNN: each small model below is exported portable and under nnie, rknn and ncnn
(lint clean), and every distinct net is compared in pycaffe, OpenCV and MNN (helpers.export_and_compare)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import Lambda, export_and_compare, random_inputs

TARGETS = ("nnie", "rknn", "ncnn")
UNPOOL_REFUSED = {"nnie": "nnie.batch", "rknn": "rknn.pooling_mask", "ncnn": "ncnn.batch"}  # README "Targets"
MNN_MASK = "MNN's Caffe converter drops Pooling's mask top (README: the zoo's listed MNN exception)"


def channel_shuffle(x, groups=2):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


def channel_shuffle_reshape(x):
    n, c, h, w = x.shape
    return x.reshape(n, 3, c // 3, h * w).permute(0, 2, 1, 3).flatten(1, 2).reshape(n, c, h, w)


CASES = {  # name: (function of the input, input shape)
    "channel_shuffle": (channel_shuffle, (2, 8, 3, 5)),
    "channel_shuffle_spelled_otherwise": (channel_shuffle_reshape, (2, 6, 4, 3)),
    "scale_on_height": (lambda x: x * torch.linspace(0.5, 2.0, 5).reshape(5, 1), (2, 4, 5, 6)),
    "mean_over_channels": (lambda x: x.mean(1, keepdim=True), (2, 6, 4, 5)),
    "max_over_height": (lambda x: x.amax(2, keepdim=True), (2, 3, 5, 4)),
    "broadcast_rows": (lambda x: x + x[:, :, :1], (2, 3, 4, 5)),
    "strided_rows": (lambda x: x[:, :, 1::2], (2, 3, 7, 4)),
    "channels_last_back": (lambda x: x.permute(0, 3, 1, 2), (2, 3, 4, 5)),
    "max_unpool": (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), (2, 3, 6, 8)),
}


@pytest.mark.parametrize("name", CASES)
def test_form_under_targets(tmp_path, name):
    fn, shape = CASES[name]
    unpool = name == "max_unpool"
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([shape]), tmp_path, targets=TARGETS,
                       refused=UNPOOL_REFUSED if unpool else None,
                       exceptions={"mnn": MNN_MASK} if unpool else None)


def test_linear_on_a_4d_tensor(tmp_path):
    linear = nn.Linear(6, 5)
    export_and_compare(linear, random_inputs([(2, 3, 4, 6)]), tmp_path, targets=TARGETS)
