"""EfficientNet-B0 (MBConv with SiLU, SE = avgpool -> conv1x1 -> SiLU -> conv1x1 -> sigmoid with
squeeze = block_in / 4, depthwise 3x3/5x5, stages of 1,2,2,3,3,4,1 blocks, stochastic depth that is
identity in eval); widths reduced (block outputs 4..24, expanded <= 120, head 128), 96x96 input."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)

# expand, kernel, stride, out, repeats (real outs: 16, 24, 40, 80, 112, 192, 320)
STAGES = [
    (1, 3, 1, 4, 1),
    (6, 3, 2, 6, 2),
    (6, 5, 2, 8, 2),
    (6, 3, 2, 12, 3),
    (6, 5, 1, 16, 3),
    (6, 5, 2, 20, 4),
    (6, 3, 1, 24, 1),
]


class StochasticDepth(nn.Module):
    """Row-wise stochastic depth; identity in eval mode (or with p == 0)."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        mask = mask.bernoulli_(keep).div_(keep)
        return x * mask


class ConvBNSiLU(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=True):
        layers = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
        ]
        if act:
            layers.append(nn.SiLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = torch.sigmoid(self.fc2(self.act(self.fc1(s))))
        return x * s


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, k, stride, drop):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers.append(ConvBNSiLU(cin, hidden, 1))
        layers.append(ConvBNSiLU(hidden, hidden, k, stride, groups=hidden))
        layers.append(SqueezeExcite(hidden, max(1, cin // 4)))
        layers.append(ConvBNSiLU(hidden, cout, 1, act=False))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop)

    def forward(self, x):
        out = self.block(x)
        if self.use_res:
            out = self.stochastic_depth(out)
            out += x
        return out


class EfficientNetB0(nn.Module):
    def __init__(self, stem=8, head=128, num_classes=10, drop_rate=0.2):
        super().__init__()
        layers = [ConvBNSiLU(3, stem, 3, 2)]
        total = sum(s[4] for s in STAGES)
        idx = 0
        cin = stem
        for expand, k, stride, cout, n in STAGES:
            stage = []
            for i in range(n):
                stage.append(MBConv(cin, cout, expand, k, stride if i == 0 else 1, drop_rate * idx / total))
                cin = cout
                idx += 1
            layers.append(nn.Sequential(*stage))
        layers.append(ConvBNSiLU(cin, head, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2, inplace=True), nn.Linear(head, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def build_model() -> nn.Module:
    return EfficientNetB0()
