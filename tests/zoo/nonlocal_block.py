"""Non-local neural network block (Wang et al., "Non-local Neural Networks", CVPR 2018), embedded Gaussian
version in the layout of the common PyTorch reference implementations: theta / phi / g 1×1 convolutions,
phi and g sub-sampled by 2×2 max pooling, ``f = torch.matmul(theta_x, phi_x)``, ``softmax(f, -1)``,
``torch.matmul(f_div_C, g_x)``, W = 1×1 conv + BatchNorm, residual. Placed in a small CNN; 32×32 input,
batch 2, 10 classes."""

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (2, 3, 32, 32)


class NonLocalBlock2D(nn.Module):
    def __init__(self, in_channels, inter_channels=None, sub_sample=True):
        super().__init__()
        self.in_channels = in_channels
        self.inter_channels = inter_channels or max(1, in_channels // 2)
        self.g = nn.Conv2d(in_channels, self.inter_channels, 1)
        self.theta = nn.Conv2d(in_channels, self.inter_channels, 1)
        self.phi = nn.Conv2d(in_channels, self.inter_channels, 1)
        self.W = nn.Sequential(nn.Conv2d(self.inter_channels, in_channels, 1), nn.BatchNorm2d(in_channels))
        if sub_sample:
            self.g = nn.Sequential(self.g, nn.MaxPool2d(kernel_size=2))
            self.phi = nn.Sequential(self.phi, nn.MaxPool2d(kernel_size=2))

    def forward(self, x):
        batch_size = x.size(0)
        g_x = self.g(x).view(batch_size, self.inter_channels, -1)
        g_x = g_x.permute(0, 2, 1)
        theta_x = self.theta(x).view(batch_size, self.inter_channels, -1)
        theta_x = theta_x.permute(0, 2, 1)
        phi_x = self.phi(x).view(batch_size, self.inter_channels, -1)
        f = torch.matmul(theta_x, phi_x)
        f_div_C = F.softmax(f, dim=-1)
        y = torch.matmul(f_div_C, g_x)
        y = y.permute(0, 2, 1).contiguous()
        y = y.view(batch_size, self.inter_channels, *x.size()[2:])
        return self.W(y) + x


class NonLocalNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.nl = NonLocalBlock2D(32)
        self.conv = nn.Sequential(nn.Conv2d(32, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.conv(self.nl(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def build_model() -> nn.Module:
    return NonLocalNet()
