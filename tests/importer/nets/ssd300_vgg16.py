"""SSD300 with VGG16 (weiliu89's ssd_pascal.py net), written as ssd.pytorch writes it: vgg list with ceil-mode
pool3, pool5 3×3 s1 p1, dilated fc6 as conv, fc7 1×1, extras, L2Norm(512, 20) on conv4_3; returns (loc, conf)."""
import torch
from torch import nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 3, 300, 300)


class L2Norm(nn.Module):
    def __init__(self, channels, scale):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = 1e-10

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return self.weight.view(1, -1, 1, 1) * (x / norm)


def vgg():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512]
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif v == "C":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    layers += [nn.MaxPool2d(3, 1, 1), nn.Conv2d(512, 1024, 3, padding=6, dilation=6), nn.ReLU(inplace=True),
               nn.Conv2d(1024, 1024, 1), nn.ReLU(inplace=True)]
    return layers


class SSD300(nn.Module):
    def __init__(self, num_classes=21):
        super().__init__()
        self.vgg = nn.ModuleList(vgg())
        self.L2Norm = L2Norm(512, 20)
        self.extras = nn.ModuleList([nn.Conv2d(1024, 256, 1), nn.Conv2d(256, 512, 3, 2, 1), nn.Conv2d(512, 128, 1),
                                     nn.Conv2d(128, 256, 3, 2, 1), nn.Conv2d(256, 128, 1), nn.Conv2d(128, 256, 3),
                                     nn.Conv2d(256, 128, 1), nn.Conv2d(128, 256, 3)])
        sources, anchors = [512, 1024, 512, 256, 256, 256], [4, 6, 6, 6, 4, 4]
        self.loc = nn.ModuleList([nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(sources, anchors)])
        self.conf = nn.ModuleList([nn.Conv2d(c, a * num_classes, 3, padding=1) for c, a in zip(sources, anchors)])

    def forward(self, x):
        sources = []
        for k in range(23):
            x = self.vgg[k](x)
        sources.append(self.L2Norm(x))
        for k in range(23, len(self.vgg)):
            x = self.vgg[k](x)
        sources.append(x)
        for k, v in enumerate(self.extras):
            x = F.relu(v(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)
        loc = torch.cat([l(s).permute(0, 2, 3, 1).contiguous().view(x.size(0), -1)
                         for s, l in zip(sources, self.loc)], 1)
        conf = torch.cat([c(s).permute(0, 2, 3, 1).contiguous().view(x.size(0), -1)
                          for s, c in zip(sources, self.conf)], 1)
        return loc, conf


def build_model():
    return SSD300().eval()
