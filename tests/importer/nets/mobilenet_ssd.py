"""chuanqi305 MobileNet-SSD (VOC, 21 classes): MobileNet v1 backbone, 4 extra blocks, 1×1 loc/conf heads on
conv11, conv13, conv14_2 … conv17_2; forward returns (loc, conf) flattened as ssd.pytorch does."""
import torch
from torch import nn

INPUT_SHAPE = (1, 3, 300, 300)


def conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def dw_sep(cin, cout, stride):
    return nn.Sequential(conv_bn(cin, cin, 3, stride, cin), conv_bn(cin, cout, 1))


class MobileNetSSD(nn.Module):
    def __init__(self, num_classes=21):
        super().__init__()
        self.num_classes = num_classes
        cfg = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)] + \
              [(512, 512, 1)] * 5
        self.base = nn.ModuleList([conv_bn(3, 32, 3, 2)] + [dw_sep(a, b, s) for a, b, s in cfg])
        self.base2 = nn.Sequential(dw_sep(512, 1024, 2), dw_sep(1024, 1024, 1))
        self.extras = nn.ModuleList([nn.Sequential(conv_bn(a, b, 1), conv_bn(b, c, 3, 2))
                                     for a, b, c in [(1024, 256, 512), (512, 128, 256), (256, 128, 256),
                                                     (256, 64, 128)]])
        sources = [512, 1024, 512, 256, 256, 128]
        anchors = [3, 6, 6, 6, 6, 6]
        self.loc = nn.ModuleList([nn.Conv2d(c, a * 4, 1) for c, a in zip(sources, anchors)])
        self.conf = nn.ModuleList([nn.Conv2d(c, a * num_classes, 1) for c, a in zip(sources, anchors)])

    def forward(self, x):
        for layer in self.base:
            x = layer(x)
        sources = [x]
        x = self.base2(x)
        sources.append(x)
        for extra in self.extras:
            x = extra(x)
            sources.append(x)
        loc = [l(s).permute(0, 2, 3, 1).contiguous() for s, l in zip(sources, self.loc)]
        conf = [c(s).permute(0, 2, 3, 1).contiguous() for s, c in zip(sources, self.conf)]
        loc = torch.cat([o.view(o.size(0), -1) for o in loc], 1)
        conf = torch.cat([o.view(o.size(0), -1) for o in conf], 1)
        return loc, conf


def build_model():
    return MobileNetSSD().eval()
