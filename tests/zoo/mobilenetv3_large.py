"""MobileNetV3-Large (15 inverted-residual blocks with the real kernel 3/5, stride, ReLU/hardswish
and SE pattern; SE = avgpool -> conv1x1 -> ReLU -> conv1x1 -> hardsigmoid; hardswish stem/head;
Linear -> hardswish -> Dropout -> Linear classifier); widths reduced (expanded <= 128), 96x96 input."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)

# kernel, expanded, out, use_se, activation, stride (real: 16/16, 64/24, 72/24, 72/40, ... 960/160)
SETTINGS = [
    (3, 8, 8, False, "RE", 1),
    (3, 24, 12, False, "RE", 2),
    (3, 36, 12, False, "RE", 1),
    (5, 36, 16, True, "RE", 2),
    (5, 48, 16, True, "RE", 1),
    (5, 48, 16, True, "RE", 1),
    (3, 64, 24, False, "HS", 2),
    (3, 56, 24, False, "HS", 1),
    (3, 48, 24, False, "HS", 1),
    (3, 48, 24, False, "HS", 1),
    (3, 96, 32, True, "HS", 1),
    (3, 128, 32, True, "HS", 1),
    (5, 128, 40, True, "HS", 2),
    (5, 120, 40, True, "HS", 1),
    (5, 120, 40, True, "HS", 1),
]


def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def act_layer(kind):
    return nn.Hardswish(inplace=True) if kind == "HS" else nn.ReLU(inplace=True)


class ConvBNAct(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, groups=1, act="RE"):
        layers = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=0.001, momentum=0.01),
        ]
        if act is not None:
            layers.append(act_layer(act))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.relu(self.fc1(s), inplace=True)
        s = F.hardsigmoid(self.fc2(s), inplace=True)
        return s * x


class InvertedResidual(nn.Module):
    def __init__(self, cin, k, exp, cout, use_se, act, stride):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        layers = []
        if exp != cin:
            layers.append(ConvBNAct(cin, exp, 1, act=act))
        layers.append(ConvBNAct(exp, exp, k, stride, groups=exp, act=act))
        if use_se:
            layers.append(SqueezeExcitation(exp, make_divisible(exp // 4, 8)))
        layers.append(ConvBNAct(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        if self.use_res:
            out = out + x
        return out


class MobileNetV3Large(nn.Module):
    def __init__(self, stem=8, last_conv=120, last_channel=128, num_classes=10):
        super().__init__()
        layers = [ConvBNAct(3, stem, 3, 2, act="HS")]
        cin = stem
        for k, exp, cout, se, act, s in SETTINGS:
            layers.append(InvertedResidual(cin, k, exp, cout, se, act, s))
            cin = cout
        layers.append(ConvBNAct(cin, last_conv, 1, act="HS"))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=0.2, inplace=True),
            nn.Linear(last_channel, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def build_model() -> nn.Module:
    return MobileNetV3Large()
