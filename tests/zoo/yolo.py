"""YOLOv3-tiny style detector (conv3x3 + BN + LeakyReLU(0.1) with maxpool 2/2, the size-keeping
ZeroPad2d((0, 1, 0, 1)) + maxpool 2/1, conv1x1 routes, nearest x2 upsampling once via nn.Upsample and
once via F.interpolate, route/concat with earlier stride-16 and stride-8 features, linear conv1x1
detection heads (3 anchors x (5 + 3 classes)); returns [stride-32 output, stride-8 output]);
widths reduced (8..128), 96x96 input."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)


def conv(cin, cout, k):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, 1, (k - 1) // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=0.01, eps=1e-5),
        nn.LeakyReLU(0.1, inplace=True),
    )


class YoloTiny(nn.Module):
    def __init__(self, num_anchors=3, num_classes=3):
        super().__init__()
        out = num_anchors * (5 + num_classes)
        self.stage8 = nn.Sequential(
            conv(3, 8, 3), nn.MaxPool2d(2, 2),
            conv(8, 16, 3), nn.MaxPool2d(2, 2),
            conv(16, 32, 3), nn.MaxPool2d(2, 2),
            conv(32, 64, 3),
        )
        self.stage16 = nn.Sequential(nn.MaxPool2d(2, 2), conv(64, 96, 3))
        self.stage32 = nn.Sequential(
            nn.MaxPool2d(2, 2),
            conv(96, 128, 3),
            nn.ZeroPad2d((0, 1, 0, 1)),
            nn.MaxPool2d(2, 1),
            conv(128, 128, 3),
            conv(128, 64, 1),
        )
        self.head32 = nn.Sequential(conv(64, 128, 3), nn.Conv2d(128, out, 1, bias=True))
        self.route32 = conv(64, 32, 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.mid16 = nn.Sequential(conv(32 + 96, 96, 3), conv(96, 32, 1))
        self.head8 = nn.Sequential(conv(32 + 64, 64, 3), nn.Conv2d(64, out, 1, bias=True))

    def forward(self, x):
        f8 = self.stage8(x)
        f16 = self.stage16(f8)
        f32 = self.stage32(f16)
        det32 = self.head32(f32)
        y = self.upsample(self.route32(f32))
        y = self.mid16(torch.cat([y, f16], 1))
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        det8 = self.head8(torch.cat([y, f8], 1))
        return [det32, det8]


def build_model() -> nn.Module:
    return YoloTiny()
