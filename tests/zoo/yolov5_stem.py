"""YOLOv5 (v1-v5 releases) stem as the ultralytics repo writes it: Focus (space-to-depth by four strided
slices, ``x[..., ::2, ::2]`` …, then a Conv), a strided Conv, a bottleneck, SPP (MaxPool2d k5/9/13 stride 1
padding k//2, concatenated) and a Detect-style decode of one scale (a fresh sigmoid tensor whose xy/wh
parts are replaced by index assignment, grid and anchor constants). Widths reduced, batch 2."""

import torch
import torch.nn as nn

INPUT_SHAPE = (2, 3, 64, 64)


def autopad(k, p=None):
    return k // 2 if p is None else p


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1, p=None):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p), bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Focus(nn.Module):
    def __init__(self, c1, c2, k=1):
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k)

    def forward(self, x):  # x(b,c,w,h) -> y(b,4c,w/2,h/2)
        return self.conv(torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.cv1 = Conv(c1, c2, 1)
        self.cv2 = Conv(c2, c2, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class SPP(nn.Module):
    def __init__(self, c1, c2, k=(5, 9, 13)):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * (len(k) + 1), c2, 1, 1)
        self.m = nn.ModuleList([nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k])

    def forward(self, x):
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [m(x) for m in self.m], 1))


class Detect(nn.Module):
    def __init__(self, nc=3, anchors=((10, 13), (16, 30), (33, 23)), ch=32, stride=8.0):
        super().__init__()
        self.no, self.na, self.stride = nc + 5, len(anchors), stride
        self.m = nn.Conv2d(ch, self.no * self.na, 1)
        self.register_buffer("anchor_grid", torch.tensor(anchors, dtype=torch.float32).view(1, -1, 1, 1, 2))

    @staticmethod
    def _make_grid(nx=20, ny=20):
        yv, xv = torch.meshgrid([torch.arange(ny), torch.arange(nx)], indexing="ij")
        return torch.stack((xv, yv), 2).view((1, 1, ny, nx, 2)).float()

    def forward(self, x):
        x = self.m(x)
        bs, _, ny, nx = x.shape
        x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
        grid = self._make_grid(nx, ny)
        y = x.sigmoid()
        y[..., 0:2] = (y[..., 0:2] * 2. - 0.5 + grid) * self.stride  # xy
        y[..., 2:4] = (y[..., 2:4] * 2) ** 2 * self.anchor_grid  # wh
        return y.view(bs, -1, self.no)


class YoloV5Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.focus = Focus(3, 16, 3)
        self.down = Conv(16, 32, 3, 2)
        self.block = Bottleneck(32, 32)
        self.spp = SPP(32, 32)
        self.detect = Detect(ch=32)

    def forward(self, x):
        features = self.spp(self.block(self.down(self.focus(x))))
        return features, self.detect(features)


def build_model() -> nn.Module:
    return YoloV5Stem()
