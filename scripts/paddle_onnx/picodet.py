"""A PP-PicoDet-style detector (PaddleDetection ppdet/modeling/heads/pico_head.py) as exported without
NMS (`exclude_nms`): boxes and class scores."""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from backbones import ConvBN, DepthwiseSeparable, up


class PicoDetLite(nn.Layer):
    """An LCNet-like backbone (depthwise separable, hard swish, SE), a PAN-lite neck (1×1 to one width,
    nearest ×2 top-down sums, depthwise 5×5) and PicoHead: per level one conv giving class logits and
    4·(reg_max + 1) distribution logits; softmax over the bins · (0..reg_max) (the integral), distances
    around the cell centres × stride → boxes (B, N, 4); sigmoid scores (B, classes, N)."""

    def __init__(self, classes=4, reg_max=7, width=32):
        super().__init__()
        self.classes, self.reg_max = classes, reg_max
        self.stem = ConvBN(3, 8, 3, 2, act="hardswish")
        self.stages = nn.LayerList([
            nn.Sequential(DepthwiseSeparable(8, 16, 2), DepthwiseSeparable(16, 16, 1)),
            nn.Sequential(DepthwiseSeparable(16, 32, 2), DepthwiseSeparable(32, 32, 1, 5)),
            nn.Sequential(DepthwiseSeparable(32, 48, 2, 5, True), DepthwiseSeparable(48, 48, 1, 5, True)),
            nn.Sequential(DepthwiseSeparable(48, 64, 2, 5, True)),
        ])
        self.lateral = nn.LayerList([ConvBN(c, width, 1, act="hardswish") for c in (32, 48, 64)])
        self.smooth = nn.LayerList([ConvBN(width, width, 5, groups=width, act="hardswish") for _ in range(3)])
        self.feat = nn.LayerList([DepthwiseSeparable(width, width, 1, 5) for _ in range(3)])
        self.pred = nn.LayerList([nn.Conv2D(width, classes + 4 * (reg_max + 1), 1) for _ in range(3)])
        self.strides = (8, 16, 32)

    @staticmethod
    def centres(h, w, stride):
        """Cell centres (x, y) in input pixels, row-major, as PicoHead generates its anchor points."""
        ys = (paddle.arange(h, dtype="float32") + 0.5) * stride
        xs = (paddle.arange(w, dtype="float32") + 0.5) * stride
        yy, xx = paddle.meshgrid(ys, xs)
        return paddle.stack([xx, yy], axis=-1).reshape([-1, 2])

    def forward(self, x):
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        lat = [conv(m) for conv, m in zip(self.lateral, maps[1:])]
        for i in (1, 0):
            lat[i] = lat[i] + up(lat[i + 1], 2)
        boxes, scores = [], []
        for i, stride in enumerate(self.strides):
            y = self.pred[i](self.feat[i](self.smooth[i](lat[i])))
            cls, reg = paddle.split(y, [self.classes, 4 * (self.reg_max + 1)], axis=1)
            b, _, h, w = reg.shape
            scores.append(F.sigmoid(cls).flatten(2))
            reg = reg.flatten(2).transpose([0, 2, 1]).reshape([-1, self.reg_max + 1])
            project = paddle.linspace(0, self.reg_max, self.reg_max + 1)
            dist = F.linear(F.softmax(reg, axis=1), project.unsqueeze(1)).reshape([b, -1, 4]) * stride
            pts = self.centres(h, w, stride)
            boxes.append(paddle.concat([pts - dist[:, :, :2], pts + dist[:, :, 2:]], axis=-1))
        return paddle.concat(boxes, axis=1), paddle.concat(scores, axis=-1)
