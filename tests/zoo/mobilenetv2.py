"""MobileNetV2 (inverted residuals, depthwise 3x3, ReLU6, linear bottleneck, t=6, strides
1,2,2,2,1,2,1); bottleneck widths reduced to 4..20 (expanded <= 120), last conv 128, 96x96 input."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)

# t (expansion), c (output channels), n (repeats), s (first stride) -- real c: 16,24,32,64,96,160,320
SETTINGS = [
    (1, 4, 1, 1),
    (6, 6, 2, 2),
    (6, 8, 3, 2),
    (6, 12, 4, 2),
    (6, 16, 3, 1),
    (6, 18, 3, 2),
    (6, 20, 1, 1),
]


def conv_bn_relu6(cin, cout, k, stride, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers.append(conv_bn_relu6(cin, hidden, 1, 1))
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, stem=8, last=128, num_classes=10):
        super().__init__()
        features = [conv_bn_relu6(3, stem, 3, 2)]
        cin = stem
        for t, c, n, s in SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(conv_bn_relu6(cin, last, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def build_model() -> nn.Module:
    return MobileNetV2()
