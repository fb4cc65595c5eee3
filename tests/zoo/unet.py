"""U-Net (DoubleConv = (conv3x3 p1 + BN + ReLU) x 2, maxpool 2/2 down, bilinear x2 upsampling with
align_corners=False, F.pad to the skip's size before cat, conv1x1 out); widths 64..1024 -> 8..128
(bilinear variant: bottom 128 // 2), odd non-square 75x61 input so every pad case occurs."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 75, 61)


class DoubleConv(nn.Module):
    def __init__(self, cin, cout, mid=None):
        super().__init__()
        mid = mid or cout
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, cin, cout, align_corners):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners)
        self.conv = DoubleConv(cin, cout, cin // 2)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy = x2.size(2) - x1.size(2)
        dx = x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self, n_channels=3, n_classes=4, base=8, align_corners=False):
        super().__init__()
        b = base
        self.inc = DoubleConv(n_channels, b)
        self.down1 = Down(b, 2 * b)
        self.down2 = Down(2 * b, 4 * b)
        self.down3 = Down(4 * b, 8 * b)
        self.down4 = Down(8 * b, 16 * b // 2)
        self.up1 = Up(16 * b, 8 * b // 2, align_corners)
        self.up2 = Up(8 * b, 4 * b // 2, align_corners)
        self.up3 = Up(4 * b, 2 * b // 2, align_corners)
        self.up4 = Up(2 * b, b, align_corners)
        self.outc = nn.Conv2d(b, n_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def build_model() -> nn.Module:
    return UNet(align_corners=False)
