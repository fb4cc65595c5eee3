"""Inception-v3 style blocks: an InceptionC-like block (1x1; 1x7/7x1 factorised branches with
asymmetric padding (0,3)/(3,0); avg_pool2d k3 s1 p1 branches with count_include_pad=True and
count_include_pad=False) and a reduction block (3x3/2 convs + maxpool 3/2), all concatenated;
widths reduced (<= 120), 64x64 input giving odd 31x31 and 15x15 maps."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 64, 64)


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class AsymmetricBlock(nn.Module):
    def __init__(self, cin, c7=12):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 16, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 16, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 16, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 16, kernel_size=1)
        self.branch_pool_excl = BasicConv2d(cin, 16, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_2(bd)
        bd = self.branch7x7dbl_3(bd)
        bd = self.branch7x7dbl_4(bd)
        bd = self.branch7x7dbl_5(bd)
        bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=True)
        bp = self.branch_pool(bp)
        bq = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        bq = self.branch_pool_excl(bq)
        return torch.cat([b1, b7, bd, bp, bq], 1)


class ReductionBlock(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 24, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 16, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(16, 16, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(16, 16, kernel_size=3, stride=2)

    def forward(self, x):
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = BasicConv2d(3, 32, kernel_size=3, stride=2)  # 64 -> 31
        self.mixed = AsymmetricBlock(32)  # 31x31, 5 x 16 = 80 channels
        self.reduce = ReductionBlock(80)  # 15x15, 24 + 16 + 80 = 120 channels
        self.fc = nn.Linear(120, num_classes)

    def forward(self, x):
        x = self.reduce(self.mixed(self.stem(x)))
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.fc(x)


def build_model() -> nn.Module:
    return InceptionNet()
