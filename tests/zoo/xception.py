"""Xception (entry flow conv3x3/2 (no pad) + conv3x3, residual blocks of [ReLU, SeparableConv
(depthwise 3x3 + pointwise 1x1), BN] x reps with maxpool 3/2 p1 and a strided conv1x1 + BN skip;
8 middle-flow blocks; exit flow block + separable convs + global pool + Linear); widths reduced
(32/64/128/256/728/1024/1536/2048 -> 8/16/16/32/45/64/96/128), 96x96 input (odd 47/45/23 maps)."""

import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)


class SeparableConv2d(nn.Module):
    def __init__(self, cin, cout, k=3, stride=1, padding=1, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, k, stride, padding, dilation, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class Block(nn.Module):
    def __init__(self, cin, cout, reps, stride=1, start_with_relu=True, grow_first=True):
        super().__init__()
        if cout != cin or stride != 1:
            self.skip = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            self.skipbn = nn.BatchNorm2d(cout)
        else:
            self.skip = None
        layers = []
        c = cin
        if grow_first:
            layers += [nn.ReLU(inplace=True), SeparableConv2d(cin, cout), nn.BatchNorm2d(cout)]
            c = cout
        for _ in range(reps - 1):
            layers += [nn.ReLU(inplace=True), SeparableConv2d(c, c), nn.BatchNorm2d(c)]
        if not grow_first:
            layers += [nn.ReLU(inplace=True), SeparableConv2d(cin, cout), nn.BatchNorm2d(cout)]
        if not start_with_relu:
            layers = layers[1:]
        else:
            layers[0] = nn.ReLU(inplace=False)
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)

    def forward(self, inp):
        x = self.rep(inp)
        skip = inp if self.skip is None else self.skipbn(self.skip(inp))
        x += skip
        return x


class Xception(nn.Module):
    def __init__(self, widths=(8, 16, 16, 32, 45, 64, 96, 128), middle=8, num_classes=10):
        super().__init__()
        w0, w1, w2, w3, w4, w5, w6, w7 = widths
        self.conv1 = nn.Conv2d(3, w0, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(w0)
        self.conv2 = nn.Conv2d(w0, w1, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(w1)
        self.block1 = Block(w1, w2, 2, 2, start_with_relu=False, grow_first=True)
        self.block2 = Block(w2, w3, 2, 2)
        self.block3 = Block(w3, w4, 2, 2)
        self.middle = nn.Sequential(*[Block(w4, w4, 3, 1) for _ in range(middle)])
        self.block12 = Block(w4, w5, 2, 2, grow_first=False)
        self.conv3 = SeparableConv2d(w5, w6, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(w6)
        self.conv4 = SeparableConv2d(w6, w7, 3, 1, 1)
        self.bn4 = nn.BatchNorm2d(w7)
        self.fc = nn.Linear(w7, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = F.relu(self.bn2(self.conv2(x)), inplace=True)
        x = self.block3(self.block2(self.block1(x)))
        x = self.middle(x)
        x = self.block12(x)
        x = F.relu(self.bn3(self.conv3(x)), inplace=True)
        x = F.relu(self.bn4(self.conv4(x)), inplace=True)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = x.view(x.size(0), -1)
        return self.fc(x)


def build_model() -> nn.Module:
    return Xception()
