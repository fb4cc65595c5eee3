"""CenterNet with a ResNet-18 backbone (stride 32) + 3 upsampling stages (conv3x3 + BN + ReLU then
ConvTranspose2d x2 + BN + ReLU, using three kernel/padding/output_padding variants: k4 p1 op0,
k3 p1 op1, k2 p0 op0) + heads (conv3x3 + ReLU + conv1x1): heatmap with sigmoid, wh, offset;
returns {"hm", "wh", "reg"}; widths reduced 4x (16..128, deconv 64/32/16, head 16), 96x96 input."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 96, 96)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity, inplace=True)


class CenterNet(nn.Module):
    # (kernel, padding, output_padding) of each ConvTranspose2d, all stride 2 (exact x2 upsampling)
    DECONVS = [(4, 1, 0), (3, 1, 1), (2, 0, 0)]

    def __init__(self, widths=(16, 32, 64, 128), deconv=(64, 32, 16), head_conv=16, num_classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers = []
        cin = widths[0]
        for i, w in enumerate(widths):
            layers.append(nn.Sequential(BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)))
            cin = w
        self.layers = nn.Sequential(*layers)
        up = []
        for cout, (k, p, op) in zip(deconv, self.DECONVS):
            up += [
                nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(cout, cout, k, 2, p, output_padding=op, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
            cin = cout
        self.deconv_layers = nn.Sequential(*up)
        self.heads = nn.ModuleDict()
        for name, c in (("hm", num_classes), ("wh", 2), ("reg", 2)):
            self.heads[name] = nn.Sequential(
                nn.Conv2d(cin, head_conv, 3, padding=1, bias=True), nn.ReLU(inplace=True), nn.Conv2d(head_conv, c, 1)
            )

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        x = self.deconv_layers(self.layers(x))
        return {
            "hm": torch.sigmoid(self.heads["hm"](x)),
            "wh": self.heads["wh"](x),
            "reg": self.heads["reg"](x),
        }


def build_model() -> nn.Module:
    return CenterNet()
