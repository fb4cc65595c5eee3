"""Convolutions and fully connected layers against real Caffe."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, random_inputs


@pytest.mark.parametrize("conv", [
    nn.Conv2d(4, 6, 3),
    nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False),
    nn.Conv2d(4, 8, (1, 7), padding=(0, 3)),
    nn.Conv2d(4, 8, (5, 3), stride=(2, 1), padding=(2, 0)),
    nn.Conv2d(4, 4, 3, padding=1, groups=4),  # depthwise
    nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2),
    nn.Conv2d(4, 6, 4, padding="same"),  # asymmetric: torch pads the extra pixel at the end
    nn.Conv2d(4, 6, 3, padding="same", dilation=3),
    nn.Conv2d(4, 6, 3, padding="valid"),
], ids=lambda conv: repr(conv))
def test_conv2d(tmp_path, conv):
    export_and_compare(nn.Sequential(conv), random_inputs([(1, 4, 11, 13)]), tmp_path)


class FunctionalConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 3, 3, 3) * 0.2)
        self.b = nn.Parameter(torch.randn(5) * 0.1)

    def forward(self, x):
        return F.conv2d(x, self.w, self.b, 1, 1), F.conv2d(x, self.w * 2, stride=2)


def test_functional_conv_with_parameter(tmp_path):
    export_and_compare(FunctionalConv(), random_inputs([(1, 3, 9, 9)]), tmp_path)


@pytest.mark.parametrize("shape", [(2, 12), (1, 5, 12), (1, 3, 4, 12)])
def test_linear_on_any_rank(tmp_path, shape):
    export_and_compare(nn.Sequential(nn.Linear(12, 7)), random_inputs([shape]), tmp_path)


def test_linear_after_flatten_and_view(tmp_path):
    model = Lambda(lambda self, x: (self.fc(x.view(x.size(0), -1)), self.fc(torch.flatten(x, 1))),
                   fc=nn.Linear(48, 3))
    export_and_compare(model, random_inputs([(1, 3, 4, 4)]), tmp_path)


@pytest.mark.parametrize("deconv,size", [
    (nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1), (5, 7)),  # CenterNet / DCGAN upsampling
    (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, bias=False), (5, 7)),
    (nn.ConvTranspose2d(4, 6, 2, stride=2), (5, 7)),  # U-Net up-conv
    (nn.ConvTranspose2d(4, 6, (3, 5), stride=(2, 3), padding=(1, 2), output_padding=(0, 2)), (5, 7)),
    (nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=4, bias=False), (5, 7)),  # depthwise
    (nn.ConvTranspose2d(4, 6, 3, stride=3, output_padding=2), (5, 7)),  # output_padding > padding: bias-only tail
    (nn.ConvTranspose2d(4, 6, 1, stride=2, output_padding=(1, 0), bias=False), (5, 7)),
    (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (1, 1)),
], ids=lambda item: repr(item))
def test_conv_transpose2d(tmp_path, deconv, size):
    with torch.no_grad():
        if deconv.bias is not None:
            deconv.bias.normal_(0, 0.5)
    export_and_compare(nn.Sequential(deconv), random_inputs([(1, 4) + size]), tmp_path)


def test_conv_transpose2d_dilated(tmp_path):
    """OpenCV's Deconvolution ignores dilation (it gives a smaller output); pycaffe and MNN run it."""
    deconv = nn.ConvTranspose2d(4, 8, 3, stride=2, padding=2, dilation=2, groups=2, output_padding=1)
    export_and_compare(nn.Sequential(deconv), random_inputs([(1, 4, 5, 7)]), tmp_path,
                       exceptions={"opencv": "OpenCV's Deconvolution ignores dilation (smaller output)"})


def test_conv_transpose2d_output_size(tmp_path):
    """``output_size`` in forward picks the output_padding: the lowering reads the traced output shape."""
    deconv = nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1)
    model = Lambda(lambda self, x: self.up(x, output_size=[10, 9]), up=deconv)
    export_and_compare(model, random_inputs([(1, 3, 5, 5)]), tmp_path)


@pytest.mark.parametrize("conv,shape", [
    (nn.Conv1d(4, 6, 3), (1, 4, 17)),
    (nn.Conv1d(4, 6, 5, stride=2, padding=2, bias=False), (2, 4, 17)),
    (nn.Conv1d(4, 8, 3, padding=2, dilation=2, groups=2), (1, 4, 17)),
    (nn.Conv1d(4, 6, 4, padding="same"), (1, 4, 17)),
    (nn.Conv1d(4, 6, 3), (4, 17)),  # unbatched
    (nn.ConvTranspose1d(4, 6, 4, stride=2, padding=1), (1, 4, 9)),
    (nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, bias=False), (2, 4, 9)),
], ids=lambda item: repr(item))
def test_conv1d(tmp_path, conv, shape):
    export_and_compare(nn.Sequential(conv), random_inputs([shape]), tmp_path)
