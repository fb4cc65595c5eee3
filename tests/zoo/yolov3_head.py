"""A YOLOv3 layer's inference decode as the older ultralytics/yolov3 repo writes it: ``io = p.clone()``
then its parts replaced by index assignment (``io[..., :2] = torch.sigmoid(io[..., :2]) + grid``,
``io[..., :4] *= stride`` as an augmented assignment). The trailing in-place ``torch.sigmoid_(io[..., 4:])``
of that repo writes through a view and stays refused; it is written as an assignment here. Batch 2."""

import torch
import torch.nn as nn

INPUT_SHAPE = (2, 16, 8, 10)


class YOLOLayer(nn.Module):
    def __init__(self, anchors=((10, 14), (23, 27), (37, 58)), nc=2, stride=32, ch=16):
        super().__init__()
        self.na, self.no, self.stride = len(anchors), nc + 5, stride
        self.conv = nn.Conv2d(ch, self.na * self.no, 1)
        self.register_buffer("anchor_wh", torch.tensor(anchors, dtype=torch.float32).view(1, -1, 1, 1, 2) / stride)

    def forward(self, x):
        p = self.conv(x)
        bs, _, ny, nx = p.shape
        yv, xv = torch.meshgrid([torch.arange(ny), torch.arange(nx)], indexing="ij")
        grid_xy = torch.stack((xv, yv), 2).view((1, 1, ny, nx, 2)).float()
        p = p.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
        io = p.clone()
        io[..., :2] = torch.sigmoid(io[..., :2]) + grid_xy
        io[..., 2:4] = torch.exp(io[..., 2:4]) * self.anchor_wh
        io[..., :4] *= self.stride
        io[..., 4:] = torch.sigmoid(io[..., 4:])
        return io.view(bs, -1, self.no), p


def build_model() -> nn.Module:
    return YOLOLayer()
