"""DLA-34 (base conv7x7 + level0/1 convs, hierarchical Tree aggregation with BasicBlocks, Root =
conv1x1 over the cat of children + BN + ReLU, maxpool 2/2 downsample + conv1x1 project of the
residual, levels [1, 1, 1, 2, 2, 1]) plus an IDA-up head that fuses levels 2..5 back to stride 4
(conv1x1 projection, upsampling by nearest / bilinear interpolate, add, conv3x3 node); widths
reduced 4x (4..128), 96x96 input, 10-channel output at 1/4 resolution."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x, residual=None):
        if residual is None:
            residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += residual
        return self.relu(out)


class Root(nn.Module):
    def __init__(self, cin, cout, kernel_size, residual):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, 1, bias=False, padding=(kernel_size - 1) // 2)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.residual = residual

    def forward(self, *children):
        x = self.bn(self.conv(torch.cat(children, 1)))
        if self.residual:
            x += children[0]
        return self.relu(x)


class Tree(nn.Module):
    def __init__(self, levels, cin, cout, stride=1, level_root=False, root_dim=0,
                 root_kernel_size=1, root_residual=False):
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * cout
        if level_root:
            root_dim += cin
        if levels == 1:
            self.tree1 = BasicBlock(cin, cout, stride)
            self.tree2 = BasicBlock(cout, cout, 1)
            self.root = Root(root_dim, cout, root_kernel_size, root_residual)
        else:
            self.tree1 = Tree(levels - 1, cin, cout, stride, root_dim=0,
                              root_kernel_size=root_kernel_size, root_residual=root_residual)
            self.tree2 = Tree(levels - 1, cout, cout, root_dim=root_dim + cout,
                              root_kernel_size=root_kernel_size, root_residual=root_residual)
            self.root = None
        self.level_root = level_root
        self.levels = levels
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        self.project = None
        if cin != cout:
            self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x, residual=None, children=None):
        children = [] if children is None else children
        bottom = self.downsample(x) if self.downsample is not None else x
        residual = self.project(bottom) if self.project is not None else bottom
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, residual)
        if self.levels == 1:
            x2 = self.tree2(x1)
            return self.root(x2, x1, *children)
        children.append(x1)
        return self.tree2(x1, children=children)


def conv_level(cin, cout, convs, stride=1):
    layers = []
    for i in range(convs):
        layers += [
            nn.Conv2d(cin, cout, 3, stride if i == 0 else 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
        cin = cout
    return nn.Sequential(*layers)


class DLA34(nn.Module):
    def __init__(self, channels=(4, 8, 16, 32, 64, 128), levels=(1, 1, 1, 2, 2, 1)):
        super().__init__()
        self.base_layer = nn.Sequential(
            nn.Conv2d(3, channels[0], 7, 1, 3, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True)
        )
        self.level0 = conv_level(channels[0], channels[0], levels[0])
        self.level1 = conv_level(channels[0], channels[1], levels[1], stride=2)
        self.level2 = Tree(levels[2], channels[1], channels[2], 2, level_root=False)
        self.level3 = Tree(levels[3], channels[2], channels[3], 2, level_root=True)
        self.level4 = Tree(levels[4], channels[3], channels[4], 2, level_root=True)
        self.level5 = Tree(levels[5], channels[4], channels[5], 2, level_root=True)

    def forward(self, x):
        y = []
        x = self.base_layer(x)
        for i in range(6):
            x = getattr(self, f"level{i}")(x)
            y.append(x)
        return y


class IDAUp(nn.Module):
    """Iterative deep aggregation from the deepest level up to stride 4."""

    def __init__(self, in_channels, out_channels, modes):
        super().__init__()
        self.modes = modes
        self.proj = nn.ModuleList()
        self.node = nn.ModuleList()
        for c in in_channels:
            self.proj.append(nn.Sequential(nn.Conv2d(c, out_channels, 1, bias=False),
                                           nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)))
        for _ in in_channels[:-1]:
            self.node.append(nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
                                           nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)))

    def forward(self, feats):
        # feats: shallow -> deep
        x = self.proj[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):
            mode = self.modes[i]
            if mode == "nearest":
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            else:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = self.node[i](x + self.proj[i](feats[i]))
        return x


class DLASeg(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.base = DLA34()
        self.dla_up = IDAUp([16, 32, 64, 128], 16, modes=["bilinear", "nearest", "bilinear"])
        self.head = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(16, num_classes, 1))

    def forward(self, x):
        feats = self.base(x)
        return self.head(self.dla_up(feats[2:]))


def build_model() -> nn.Module:
    return DLASeg()
