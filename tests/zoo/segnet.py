"""SegNet (Badrinarayanan et al.) encoder/decoder as PyTorch ports write it: conv-BN-ReLU stages, each
ending in MaxPool2d(2, 2, return_indices=True); the decoder unpools with the matching indices
(F.max_unpool2d, output_size = the size before pooling) before its own conv-BN-ReLU stage. Two stages
(of five), widths reduced, an odd input height so that one unpooling adds a zero row, batch 2."""

import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (2, 3, 30, 40)


def _stage(cin, cout, convs=2):
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class SegNet(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.enc1, self.enc2 = _stage(3, 8), _stage(8, 16)
        self.dec2, self.dec1 = _stage(16, 8), _stage(8, 8)
        self.classifier = nn.Conv2d(8, num_classes, 3, padding=1)

    def forward(self, x):
        x = self.enc1(x)
        size1 = x.size()
        x, id1 = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
        x = self.enc2(x)
        size2 = x.size()
        x, id2 = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
        x = F.max_unpool2d(x, id2, kernel_size=2, stride=2, output_size=size2)
        x = self.dec2(x)
        x = F.max_unpool2d(x, id1, kernel_size=2, stride=2, output_size=size1)
        return self.classifier(self.dec1(x))


def build_model() -> nn.Module:
    return SegNet()
