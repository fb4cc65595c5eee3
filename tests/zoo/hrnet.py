"""HRNet-W18-small-v1 style (stem two conv3x3/2; layer1 Bottleneck; transitions adding a branch by
conv3x3/2; stages of 2/3/4 parallel branches with BasicBlocks; fusion: higher-res targets get
conv1x1 + BN + nearest upsampling by 2^k, lower-res targets get chains of conv3x3/2 + BN (+ReLU
except last), summed + ReLU; segmentation head: bilinear upsample all branches, cat, conv1x1);
widths reduced to 8/16/32/64, 96x96 input (branches 24, 12, 6, 3)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + x, inplace=True)


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, expansion=4):
        super().__init__()
        cout = planes * expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + residual, inplace=True)


class HighResolutionModule(nn.Module):
    def __init__(self, channels, num_blocks):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(c) for _ in range(num_blocks)]) for c in channels
        )
        n = len(channels)
        self.fuse_layers = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(channels[j], channels[i], 1, bias=False),
                                             nn.BatchNorm2d(channels[i])))
                elif j == i:
                    row.append(nn.Identity())
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = channels[i] if last else channels[j]
                        steps += [nn.Conv2d(channels[j], cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout)]
                        if not last:
                            steps.append(nn.ReLU(inplace=True))
                    row.append(nn.Sequential(*steps))
            self.fuse_layers.append(row)

    def forward(self, xs):
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = None
            for j, layer in enumerate(row):
                z = layer(xs[j])
                if j > i:
                    z = F.interpolate(z, scale_factor=2 ** (j - i), mode="nearest")
                y = z if y is None else y + z
            out.append(F.relu(y))
        return out


class HRNet(nn.Module):
    def __init__(self, stem=16, widths=(8, 16, 32, 64), num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem)
        self.layer1 = Bottleneck(stem, 8)  # -> 32 channels
        c1 = 32
        self.transition1 = nn.ModuleList([
            nn.Sequential(nn.Conv2d(c1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)),
            nn.Sequential(nn.Conv2d(c1, widths[1], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[1]), nn.ReLU(inplace=True)),
        ])
        self.stage2 = HighResolutionModule(list(widths[:2]), 2)
        self.transition2 = self._new_branch(widths[1], widths[2])
        self.stage3 = HighResolutionModule(list(widths[:3]), 2)
        self.transition3 = self._new_branch(widths[2], widths[3])
        self.stage4 = HighResolutionModule(list(widths), 2)
        total = sum(widths)
        self.last_layer = nn.Sequential(
            nn.Conv2d(total, total, 1), nn.BatchNorm2d(total), nn.ReLU(inplace=True),
            nn.Conv2d(total, num_classes, 1),
        )

    @staticmethod
    def _new_branch(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = F.relu(self.bn2(self.conv2(x)), inplace=True)
        x = self.layer1(x)
        xs = [t(x) for t in self.transition1]
        xs = self.stage2(xs)
        xs = self.stage3(xs + [self.transition2(xs[-1])])
        xs = self.stage4(xs + [self.transition3(xs[-1])])
        h, w = xs[0].shape[2:]
        ups = [xs[0]] + [F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False) for t in xs[1:]]
        return self.last_layer(torch.cat(ups, 1))


def build_model() -> nn.Module:
    return HRNet()
