"""GhostNet 1.0x (ghost modules: primary conv1x1 + cheap depthwise 3x3, cat, slice to the output
channels; ghost bottlenecks with stride-2 depthwise, SE with hard_sigmoid = relu6(x + 3) / 6, conv
shortcuts; head conv1x1 on the pooled map + ReLU + Dropout + Linear); real block pattern (16 blocks,
kernel 3/5, SE placement, strides) with widths reduced (<= 128) and several odd channel counts so the
ghost slicing really drops a channel; 96x96 input."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)

# kernel, expanded, out, se_ratio, stride (real: 3/16/16, 3/48/24, 3/72/24, 5/72/40/.25, ...)
CFG = [
    (3, 8, 8, 0.0, 1),
    (3, 24, 12, 0.0, 2),
    (3, 36, 12, 0.0, 1),
    (5, 36, 20, 0.25, 2),
    (5, 60, 20, 0.25, 1),
    (3, 120, 41, 0.0, 2),
    (3, 100, 41, 0.0, 1),
    (3, 93, 41, 0.0, 1),
    (3, 92, 41, 0.0, 1),
    (3, 120, 57, 0.25, 1),
    (3, 128, 57, 0.25, 1),
    (5, 128, 80, 0.25, 2),
    (5, 128, 80, 0.0, 1),
    (5, 128, 80, 0.25, 1),
    (5, 128, 80, 0.0, 1),
    (5, 128, 80, 0.25, 1),
]


def make_divisible(v, divisor=4):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    def __init__(self, channels, se_ratio=0.25):
        super().__init__()
        reduced = make_divisible(channels * se_ratio, 4)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = self.conv_expand(self.act(self.conv_reduce(s)))
        return x * hard_sigmoid(s)


class GhostModule(nn.Module):
    def __init__(self, cin, cout, ratio=2, dw_size=3, relu=True):
        super().__init__()
        self.cout = cout
        init = math.ceil(cout / ratio)
        new = init * (ratio - 1)
        act = [nn.ReLU(inplace=True)] if relu else []
        self.primary_conv = nn.Sequential(nn.Conv2d(cin, init, 1, 1, 0, bias=False), nn.BatchNorm2d(init), *act)
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(init, new, dw_size, 1, dw_size // 2, groups=init, bias=False), nn.BatchNorm2d(new), *act
        )

    def forward(self, x):
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        out = torch.cat([x1, x2], dim=1)
        return out[:, : self.cout, :, :]


class GhostBottleneck(nn.Module):
    def __init__(self, cin, mid, cout, k, stride, se_ratio):
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(cin, mid, relu=True)
        if stride > 1:
            self.conv_dw = nn.Conv2d(mid, mid, k, stride, (k - 1) // 2, groups=mid, bias=False)
            self.bn_dw = nn.BatchNorm2d(mid)
        self.se = SqueezeExcite(mid, se_ratio) if se_ratio > 0 else None
        self.ghost2 = GhostModule(mid, cout, relu=False)
        if cin == cout and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cin, k, stride, (k - 1) // 2, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
                nn.BatchNorm2d(cout),
            )

    def forward(self, x):
        residual = x
        x = self.ghost1(x)
        if self.stride > 1:
            x = self.bn_dw(self.conv_dw(x))
        if self.se is not None:
            x = self.se(x)
        x = self.ghost2(x)
        x += self.shortcut(residual)
        return x


class GhostNet(nn.Module):
    def __init__(self, stem=8, last=128, head=128, num_classes=10, dropout=0.2):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.act1 = nn.ReLU(inplace=True)
        blocks = []
        cin = stem
        for k, mid, cout, se, s in CFG:
            blocks.append(GhostBottleneck(cin, mid, cout, k, s, se))
            cin = cout
        blocks.append(nn.Sequential(nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU(inplace=True)))
        self.blocks = nn.Sequential(*blocks)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(last, head, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.dropout = dropout
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.global_pool(x)
        x = self.act2(self.conv_head(x))
        x = x.view(x.size(0), -1)
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)


def build_model() -> nn.Module:
    return GhostNet()
