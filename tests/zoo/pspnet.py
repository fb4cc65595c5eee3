"""PSPNet (dilated ResNet-50 backbone at output stride 8; pyramid pooling module: adaptive_avg_pool2d
to bins 1, 2, 3, 6 -> conv1x1 + BN + ReLU -> bilinear upsample back (align_corners=True), cat with
the features; conv3x3 + BN + ReLU + Dropout + conv1x1; bilinear upsample to the input,
align_corners=False); planes reduced (4/8/16/16, features 64, PPM 16 per bin), 97x97 input giving a
13x13 feature map (not divisible by 2, 3 or 6: overlapping adaptive pooling windows)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .deeplabv3 import DilatedResNet

INPUT_SHAPE = (1, 3, 97, 97)


class PyramidPooling(nn.Module):
    def __init__(self, cin, bins=(1, 2, 3, 6), reduction=16):
        super().__init__()
        self.bins = bins
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, reduction, 1, bias=False), nn.BatchNorm2d(reduction), nn.ReLU(inplace=True))
            for _ in bins
        )
        self.out_channels = cin + reduction * len(bins)

    def forward(self, x):
        h, w = x.shape[2:]
        outs = [x]
        for b, stage in zip(self.bins, self.stages):
            y = stage(F.adaptive_avg_pool2d(x, b))
            outs.append(F.interpolate(y, size=(h, w), mode="bilinear", align_corners=True))
        return torch.cat(outs, 1)


class PSPNet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.backbone = DilatedResNet(planes=(4, 8, 16, 16), output_stride=8)
        self.ppm = PyramidPooling(self.backbone.out_channels)
        self.cls = nn.Sequential(
            nn.Conv2d(self.ppm.out_channels, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Dropout2d(p=0.1),
            nn.Conv2d(32, num_classes, 1),
        )

    def forward(self, x):
        h, w = x.shape[2:]
        y = self.cls(self.ppm(self.backbone(x)))
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


def build_model() -> nn.Module:
    return PSPNet()
