"""Two-input / nested-output model (not a published architecture): an image (1, 3, 32, 32) and a
half-resolution feature map (1, 6, 16, 16) are fused (strided conv, conv1x1, add, cat); returns
((a, b), c) with a 4-D map, a pooled Linear vector and an upsampled map."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPES = [(1, 3, 32, 32), (1, 6, 16, 16)]


class MultiIO(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_x = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn_x = nn.BatchNorm2d(16)
        self.conv_y = nn.Conv2d(6, 16, 1)
        self.conv_a = nn.Conv2d(16, 4, 3, padding=1)
        self.fc_b = nn.Linear(16, 5)
        self.conv_c = nn.Conv2d(32, 2, 1)

    def forward(self, x, y):
        fx = F.relu(self.bn_x(self.conv_x(x)))
        fy = F.relu(self.conv_y(y))
        m = fx + fy
        a = self.conv_a(m)
        b = self.fc_b(m.mean((2, 3)))
        c = self.conv_c(torch.cat([fx, fy], 1))
        c = F.interpolate(c, scale_factor=2, mode="nearest")
        return (a, b), c


def build_model() -> nn.Module:
    return MultiIO()
