"""DeepLabV3 (dilated ResNet-50 backbone: Bottleneck [3, 4, 6, 3] with layer3/layer4 strides replaced
by dilation 2/4, output stride 8; ASPP = conv1x1 + three atrous conv3x3 with rates 6/12/18 + image
pooling branch adaptive_avg_pool2d(1) -> conv1x1 -> BN -> ReLU -> bilinear upsample back, cat,
conv1x1 projection + Dropout; head conv3x3 + conv1x1; final bilinear upsample to the input size,
align_corners=False); planes reduced 16x (4..32, widest 128), ASPP 32 channels, 161x161 input
(21x21 features, so every atrous rate still reaches real pixels)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 161, 161)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class DilatedResNet(nn.Module):
    """ResNet whose later strides are replaced by dilation (output stride 8 or 16)."""

    def __init__(self, planes=(4, 8, 16, 32), blocks=(3, 4, 6, 3), output_stride=8):
        super().__init__()
        replace = {8: (False, True, True), 16: (False, False, True)}[output_stride]
        self.inplanes = planes[0] * 4
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(planes[0], blocks[0])
        self.layer2 = self._make_layer(planes[1], blocks[1], 2, replace[0])
        self.layer3 = self._make_layer(planes[2], blocks[2], 2, replace[1])
        self.layer4 = self._make_layer(planes[3], blocks[3], 2, replace[2])
        self.out_channels = self.inplanes

    def _make_layer(self, planes, n, stride=1, dilate=False):
        previous = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, previous, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, 1, self.dilation) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ASPPPooling(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        size = x.shape[-2:]
        y = F.adaptive_avg_pool2d(x, 1)
        for m in self:
            y = m(y)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    def __init__(self, cin, rates=(6, 12, 18), cout=32):
        super().__init__()
        branches = [nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())]
        for r in rates:
            branches.append(nn.Sequential(nn.Conv2d(cin, cout, 3, padding=r, dilation=r, bias=False),
                                          nn.BatchNorm2d(cout), nn.ReLU()))
        branches.append(ASPPPooling(cin, cout))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(0.5)
        )

    def forward(self, x):
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabV3(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.backbone = DilatedResNet(output_stride=8)
        c = self.backbone.out_channels
        self.classifier = nn.Sequential(
            ASPP(c, (6, 12, 18), 32),
            nn.Conv2d(32, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, num_classes, 1),
        )

    def forward(self, x):
        size = x.shape[-2:]
        y = self.classifier(self.backbone(x))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


def build_model() -> nn.Module:
    return DeepLabV3()
