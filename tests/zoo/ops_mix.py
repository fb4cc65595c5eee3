"""Operator mix (not a published architecture): functional / tensor-method calls the exporter must
map -- F.conv2d with Parameters, relu variants, in-place add/mul, scalar sub/div/rsub, cat, chunk and
split into unequal parts, slicing, activations (leaky_relu, PReLU per-channel and shared, elu, tanh,
hardtanh(-1, 2), silu, hardswish, hardsigmoid, relu6), LRN, softmax over channels and the last dim,
mean / sum reductions, flatten, view, permute, transpose, Linear + BatchNorm1d, Linear on (N, T, F).
Small: 8 -> 16/32 channels on a 12x12 map; returns a tuple of four tensors."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 8, 12, 12)


class OpsMix(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(16, 8, 3, 3))
        self.b = nn.Parameter(torch.zeros(16))
        nn.init.kaiming_normal_(self.w)
        self.conv = nn.Conv2d(16, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.prelu_c = nn.PReLU(16)
        self.prelu_s = nn.PReLU()
        self.lrn = nn.LocalResponseNorm(5)
        self.fc = nn.Linear(32 * 3 * 3, 24)
        self.bn1d = nn.BatchNorm1d(24)
        self.seq_fc = nn.Linear(32, 12)

    def forward(self, x):
        n = x.shape[0]
        y = F.conv2d(x, self.w, self.b, padding=1)  # (n, 16, 12, 12)
        a = torch.relu(y)
        b = self.bn(self.conv(a)).relu()
        s = a + b
        s += y  # in-place add
        s.mul_(2)  # in-place scalar mul
        t = (s - 0.25) / 4.0  # scalar sub / div
        r = 1 - t  # rsub
        q = 2 / (t.abs() + 1)  # scalar / tensor
        u = torch.cat([self.prelu_c(r), self.prelu_s(q - 1)], dim=1)  # (n, 32, 12, 12)

        c1, c2, c3 = torch.chunk(u, 3, dim=1)  # 11, 11, 10 channels
        v = torch.cat([F.leaky_relu(c1, 0.2), F.elu(c2), torch.tanh(c3)], 1)
        d1, d2, d3, d4, d5, d6 = torch.split(v, [3, 5, 6, 7, 4, 7], dim=1)
        v = torch.cat(
            [
                F.hardtanh(d1, -1.0, 2.0),
                F.silu(d2),
                F.hardswish(d3),
                F.hardsigmoid(d4),
                F.relu6(d5 * 3),
                d6,
            ],
            1,
        )
        v = self.lrn(v)
        sl = v[:, 2:5]  # (n, 3, 12, 12)

        sm = torch.softmax(v, dim=1) * torch.softmax(v, dim=-1) * 10.0
        gate = torch.sigmoid(v.sum(dim=(2, 3), keepdim=True) / 144.0)  # (n, 32, 1, 1)
        g = v * gate + sm
        nhwc = g.permute(0, 2, 3, 1)  # (n, 12, 12, 32)

        pooled = F.max_pool2d(g, 4)  # (n, 32, 3, 3)
        f = self.bn1d(self.fc(torch.flatten(pooled, 1)))  # (n, 24)
        f = torch.cat([f, g.mean((2, 3))], 1)  # (n, 56)

        seq = g.view(n, 32, -1).transpose(1, 2)  # (n, 144, 32)
        seq = self.seq_fc(seq)  # Linear on (N, T, F) -> (n, 144, 12)

        return f, seq, nhwc, sl.reshape(n, 3, -1)


def build_model() -> nn.Module:
    return OpsMix()
