"""OpenPose BODY_25: VGG-19 front (PReLU from conv4_2), CPM layers, 4 PAF stages then 2 heatmap stages of
densely connected 3-conv blocks with PReLU; output = cat(heatmaps 26, PAFs 52)."""
import torch
from torch import nn

INPUT_SHAPE = (1, 3, 96, 96)


def conv(cin, cout, k=3, act="prelu"):
    layers = [nn.Conv2d(cin, cout, k, 1, k // 2)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "prelu":
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class DenseBlock(nn.Module):
    def __init__(self, cin, width):
        super().__init__()
        self.conv0, self.conv1, self.conv2 = conv(cin, width), conv(width, width), conv(width, width)

    def forward(self, x):
        a = self.conv0(x)
        b = self.conv1(a)
        c = self.conv2(b)
        return torch.cat([a, b, c], 1)


class Stage(nn.Module):
    def __init__(self, cin, width, mid, cout):
        super().__init__()
        blocks = []
        for _ in range(5):
            blocks.append(DenseBlock(cin, width))
            cin = 3 * width
        self.blocks = nn.Sequential(*blocks)
        self.conv6 = conv(cin, mid, 1)
        self.conv7 = conv(mid, cout, 1, act=None)

    def forward(self, x):
        return self.conv7(self.conv6(self.blocks(x)))


class Body25(nn.Module):
    def __init__(self):
        super().__init__()
        vgg = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256), (256, 256),
               "M", (256, 512)]
        layers = [nn.MaxPool2d(2, 2) if v == "M" else conv(*v, act="relu") for v in vgg]
        layers += [conv(512, 512), conv(512, 256), conv(256, 128)]
        self.backbone = nn.Sequential(*layers)
        self.paf = nn.ModuleList([Stage(128, 96, 256, 52)] + [Stage(128 + 52, 128, 512, 52) for _ in range(3)])
        self.heat = nn.ModuleList([Stage(128 + 52, 96, 256, 26), Stage(128 + 26 + 52, 128, 512, 26)])

    def forward(self, x):
        features = self.backbone(x)
        paf = self.paf[0](features)
        for stage in self.paf[1:]:
            paf = stage(torch.cat([features, paf], 1))
        heat = self.heat[0](torch.cat([features, paf], 1))
        heat = self.heat[1](torch.cat([features, heat, paf], 1))
        return torch.cat([heat, paf], 1)


def build_model():
    return Body25().eval()
