"""U-Net as most repositories write it for inputs whose sides are a multiple of its total stride: four
max-pool 2/2 downs, bilinear ×2 (align_corners=False) ups and a skip cat with no padding (valid only when
the maps line up: H and W multiples of 16), widths 8..128, a 64×48 input. The export is valid at every
multiple of 16 and refused at other sizes (pt2caffe.net.probes finds the stride)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 64, 48)


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, width=8, depth=4, classes=2):
        super().__init__()
        channels = [width * 2 ** i for i in range(depth + 1)]
        self.inc = block(3, channels[0])
        self.down = nn.ModuleList(block(channels[i], channels[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(block(channels[i + 1] + channels[i], channels[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(channels[0], classes, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        x = skips.pop()
        for up in self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skips.pop()], 1))
        return self.head(x)


def build_model() -> nn.Module:
    return UNet()
