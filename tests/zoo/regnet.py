"""RegNetY-400MF style (stem conv3x3/2; stages of X-blocks: 1x1 -> grouped 3x3 (group width 8,
stride on the 3x3) -> SE (squeeze = 0.25 * block input) -> 1x1, projection shortcut conv1x1 + BN;
depths 1,3,6,6); widths reduced 48/104/208/440 -> 16/32/64/128, 96x96 input."""

import torch.nn as nn

INPUT_SHAPE = (1, 3, 96, 96)


def conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1),
    )


class SE(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        s = self.sigmoid(self.fc2(self.relu(self.fc1(self.avgpool(x)))))
        return x * s


class ResBottleneckBlock(nn.Module):
    def __init__(self, cin, cout, stride, group_width=8, bottleneck=1.0, se_ratio=0.25):
        super().__init__()
        wb = int(round(cout * bottleneck))
        groups = wb // group_width
        self.proj = conv_bn(cin, cout, 1, stride) if (cin != cout or stride != 1) else None
        self.f = nn.Sequential(
            conv_bn(cin, wb, 1),
            nn.ReLU(inplace=True),
            conv_bn(wb, wb, 3, stride, groups),
            nn.ReLU(inplace=True),
            SE(wb, int(round(se_ratio * cin))),
            conv_bn(wb, cout, 1),
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class RegNet(nn.Module):
    def __init__(self, stem=16, widths=(16, 32, 64, 128), depths=(1, 3, 6, 6), num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, stem, 3, 2), nn.ReLU(inplace=True))
        stages = []
        cin = stem
        for w, d in zip(widths, depths):
            blocks = []
            for i in range(d):
                blocks.append(ResBottleneckBlock(cin, w, 2 if i == 0 else 1))
                cin = w
            stages.append(nn.Sequential(*blocks))
        self.trunk_output = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.trunk_output(self.stem(x))
        x = self.avgpool(x)
        x = x.flatten(start_dim=1)
        return self.fc(x)


def build_model() -> nn.Module:
    return RegNet()
