"""Backbones of the PaddleOCR models, as its repository defines them (ppocr/modeling/backbones:
det_mobilenet_v3.py, rec_mobilenet_v3.py, rec_mv1_enhance.py, det_resnet_vd.py), widths reduced by the
callers. Paddle code: runs in the generator's own environment only."""

from __future__ import annotations

import paddle.nn as nn
import paddle.nn.functional as F


def divisible(v: float, divisor: int = 8) -> int:
    """MobileNet's channel rounding: nearest multiple of `divisor`, never below 90 % of `v`."""
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def activation(name: str | None, x):
    """The activation PaddleOCR names `name` (None: identity)."""
    if name is None:
        return x
    return {"relu": F.relu, "hardswish": F.hardswish, "swish": F.swish}[name](x)


class ConvBN(nn.Layer):
    """Conv2D without bias + BatchNorm + optional activation (PaddleOCR's ConvBNLayer)."""

    def __init__(self, cin, cout, k, stride=1, padding=None, groups=1, act=None):
        super().__init__()
        padding = (k - 1) // 2 if padding is None and isinstance(k, int) else padding
        self.conv = nn.Conv2D(cin, cout, k, stride, padding, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm2D(cout)
        self.act = act

    def forward(self, x):
        return activation(self.act, self.bn(self.conv(x)))


class SqueezeExcite(nn.Layer):
    """Global average pool, 1×1 conv + ReLU, 1×1 conv + hard sigmoid, channel product."""

    def __init__(self, channels, reduction=4, slope=0.2):
        super().__init__()
        self.reduce = nn.Conv2D(channels, channels // reduction, 1)
        self.expand = nn.Conv2D(channels // reduction, channels, 1)
        self.slope = slope

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.expand(F.relu(self.reduce(s))), slope=self.slope, offset=0.5)
        return x * s


class InvertedResidual(nn.Layer):
    """MobileNetV3 block: 1×1 expand, k×k depthwise (stride may be (2, 1)), optional SE, 1×1 project."""

    def __init__(self, cin, mid, cout, k, stride, se, act):
        super().__init__()
        self.expand = ConvBN(cin, mid, 1, act=act)
        self.depthwise = ConvBN(mid, mid, k, stride, (k - 1) // 2, groups=mid, act=act)
        self.se = SqueezeExcite(mid) if se else None
        self.project = ConvBN(mid, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.depthwise(self.expand(x))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


# k, expansion, out, SE, activation, stride (MobileNetV3 paper, tables 1 and 2)
MBV3_LARGE = [
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
]
MBV3_SMALL = [
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hardswish", 2), (5, 240, 40, True, "hardswish", 1),
    (5, 240, 40, True, "hardswish", 1), (5, 120, 48, True, "hardswish", 1),
    (5, 144, 48, True, "hardswish", 1), (5, 288, 96, True, "hardswish", 2),
    (5, 576, 96, True, "hardswish", 1), (5, 576, 96, True, "hardswish", 1),
]


class MobileNetV3Det(nn.Layer):
    """PaddleOCR's detection MobileNetV3: four feature maps (strides 4, 8, 16, 32) for the FPN."""

    def __init__(self, scale=0.35, cfg=MBV3_LARGE, last=960):
        super().__init__()
        cin = divisible(16 * scale)
        self.stem = ConvBN(3, cin, 3, 2, 1, act="hardswish")
        stages, blocks, self.out_channels = [], [], []
        for i, (k, exp, c, se, act, s) in enumerate(cfg):
            if s == 2 and i > 2:
                stages.append(nn.Sequential(*blocks))
                self.out_channels.append(cin)
                blocks = []
            blocks.append(InvertedResidual(cin, divisible(scale * exp), divisible(scale * c), k, s, se, act))
            cin = divisible(scale * c)
        blocks.append(ConvBN(cin, divisible(scale * last), 1, act="hardswish"))
        stages.append(nn.Sequential(*blocks))
        self.out_channels.append(divisible(scale * last))
        self.stages = nn.LayerList(stages)

    def forward(self, x):
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps


class MobileNetV3Rec(nn.Layer):
    """PaddleOCR's recognition/classification MobileNetV3: strides (2, 1) keep the width; 2×2 max pool."""

    def __init__(self, scale=0.35, cfg=MBV3_SMALL, last=576, first_stride=2):
        super().__init__()
        cin = divisible(16 * scale)
        self.stem = ConvBN(3, cin, 3, 2, 1, act="hardswish")
        blocks, strides = [], iter([first_stride, 2, 2, 2])
        for k, exp, c, se, act, s in cfg:
            stride = (next(strides), 1) if s == 2 else 1
            blocks.append(InvertedResidual(cin, divisible(scale * exp), divisible(scale * c), k, stride, se, act))
            cin = divisible(scale * c)
        self.blocks = nn.Sequential(*blocks)
        self.last = ConvBN(cin, divisible(scale * last), 1, act="hardswish")
        self.out_channels = divisible(scale * last)

    def forward(self, x):
        return F.max_pool2d(self.last(self.blocks(self.stem(x))), 2, 2)


class DepthwiseSeparable(nn.Layer):
    def __init__(self, cin, cout, stride, k=3, se=False):
        super().__init__()
        self.dw = ConvBN(cin, cin, k, stride, (k - 1) // 2, groups=cin, act="hardswish")
        self.se = SqueezeExcite(cin, slope=1 / 6) if se else None
        self.pw = ConvBN(cin, cout, 1, act="hardswish")

    def forward(self, x):
        x = self.dw(x)
        if self.se is not None:
            x = self.se(x)
        return self.pw(x)


class MobileNetV1Enhance(nn.Layer):
    """rec_mv1_enhance.py with PP-OCRv3's options (last_conv_stride [1, 2], last_pool_type avg)."""

    def __init__(self, scale=0.25):
        super().__init__()
        c = lambda n: int(n * scale)  # noqa: E731
        plan = [(32, 64, 1, 3, False), (64, 128, 1, 3, False), (128, 128, 1, 3, False),
                (128, 256, (2, 1), 3, False), (256, 256, 1, 3, False), (256, 512, (2, 1), 3, False)]
        plan += [(512, 512, 1, 5, False)] * 5 + [(512, 1024, (2, 1), 5, True), (1024, 1024, (1, 2), 5, True)]
        self.stem = ConvBN(3, c(32), 3, 2, 1, act="hardswish")
        self.blocks = nn.Sequential(*[DepthwiseSeparable(c(a), c(b), s, k, se) for a, b, s, k, se in plan])
        self.out_channels = c(1024)

    def forward(self, x):
        return F.avg_pool2d(self.blocks(self.stem(x)), 2, 2)


class BasicBlockVd(nn.Layer):
    """ResNet-vd basic block: the strided shortcut is 2×2 average pooling (ceil mode) + 1×1 conv."""

    def __init__(self, cin, cout, stride, first):
        super().__init__()
        self.conv1 = ConvBN(cin, cout, 3, stride, act="relu")
        self.conv2 = ConvBN(cout, cout, 3)
        self.pool = stride != 1 and not first
        self.short = ConvBN(cin, cout, 1, 1 if self.pool else stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        s = x
        if self.pool:
            s = F.avg_pool2d(s, 2, 2, ceil_mode=True)
        if self.short is not None:
            s = self.short(s)
        return F.relu(s + y)


class ResNetVd(nn.Layer):
    """ResNet18-vd (det_resnet_vd.py): three 3×3 stem convs, 3×3/2 max pool, 4 stages of 2 blocks."""

    def __init__(self, widths=(16, 32, 64, 128)):
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(ConvBN(3, w0 // 2, 3, 2, act="relu"), ConvBN(w0 // 2, w0 // 2, 3, act="relu"),
                                  ConvBN(w0 // 2, w0, 3, act="relu"))
        stages, cin = [], w0
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(BasicBlockVd(cin, w, 1 if i == 0 else 2, i == 0), BasicBlockVd(w, w, 1, False)))
            cin = w
        self.stages = nn.LayerList(stages)
        self.out_channels = list(widths)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, 2, 1)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps


def up(x, factor):
    """Nearest upsampling as PaddleOCR's necks call it."""
    return F.upsample(x, scale_factor=factor, mode="nearest", align_mode=1)
