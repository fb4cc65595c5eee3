"""ENet (Paszke et al. 2016) as the common PyTorch port writes it: the initial block (3×3/2 conv with 13
channels concatenated with MaxPool2d(2, 2) of the input), a downsampling bottleneck whose main branch is
MaxPool2d with indices padded to the extension's channels by ``torch.zeros(n, ch_ext - ch_main, h, w)``
and ``torch.cat``, regular/dilated/asymmetric bottlenecks, an upsampling bottleneck that unpools with
those indices (MaxUnpool2d, output_size), and the final ConvTranspose2d. Widths reduced, batch 2."""

import torch
import torch.nn as nn

INPUT_SHAPE = (2, 3, 32, 48)


class InitialBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.main_branch = nn.Conv2d(in_channels, out_channels - 3, kernel_size=3, stride=2, padding=1, bias=False)
        self.ext_branch = nn.MaxPool2d(2, stride=2)
        self.batch_norm = nn.BatchNorm2d(out_channels)
        self.out_activation = nn.PReLU()

    def forward(self, x):
        main = self.main_branch(x)
        ext = self.ext_branch(x)
        out = torch.cat((main, ext), 1)
        return self.out_activation(self.batch_norm(out))


def _conv_bn_act(cin, cout, kernel, stride=1, padding=0, dilation=1, transposed=False):
    conv = (nn.ConvTranspose2d(cin, cout, kernel, stride, bias=False) if transposed
            else nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, bias=False))
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.PReLU())


class RegularBottleneck(nn.Module):
    def __init__(self, channels, internal_ratio=4, kernel_size=3, padding=1, dilation=1, asymmetric=False):
        super().__init__()
        internal = channels // internal_ratio
        self.ext_conv1 = _conv_bn_act(channels, internal, 1)
        if asymmetric:
            self.ext_conv2 = nn.Sequential(
                nn.Conv2d(internal, internal, (kernel_size, 1), padding=(padding, 0), bias=False),
                nn.BatchNorm2d(internal), nn.PReLU(),
                nn.Conv2d(internal, internal, (1, kernel_size), padding=(0, padding), bias=False),
                nn.BatchNorm2d(internal), nn.PReLU())
        else:
            self.ext_conv2 = _conv_bn_act(internal, internal, kernel_size, padding=padding, dilation=dilation)
        self.ext_conv3 = nn.Sequential(nn.Conv2d(internal, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.ext_regul = nn.Dropout2d(p=0.1)
        self.out_activation = nn.PReLU()

    def forward(self, x):
        ext = self.ext_regul(self.ext_conv3(self.ext_conv2(self.ext_conv1(x))))
        return self.out_activation(x + ext)


class DownsamplingBottleneck(nn.Module):
    def __init__(self, in_channels, out_channels, internal_ratio=4, return_indices=True):
        super().__init__()
        self.return_indices = return_indices
        internal = in_channels // internal_ratio
        self.main_max1 = nn.MaxPool2d(2, stride=2, return_indices=return_indices)
        self.ext_conv1 = _conv_bn_act(in_channels, internal, 2, stride=2)
        self.ext_conv2 = _conv_bn_act(internal, internal, 3, padding=1)
        self.ext_conv3 = nn.Sequential(nn.Conv2d(internal, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.ext_regul = nn.Dropout2d(p=0.1)
        self.out_activation = nn.PReLU()

    def forward(self, x):
        main, max_indices = self.main_max1(x)
        ext = self.ext_regul(self.ext_conv3(self.ext_conv2(self.ext_conv1(x))))
        # Main branch channel padding
        n, ch_ext, h, w = ext.size()
        ch_main = main.size()[1]
        padding = torch.zeros(n, ch_ext - ch_main, h, w)
        if main.is_cuda:
            padding = padding.cuda()
        main = torch.cat((main, padding), 1)
        out = main + ext
        return self.out_activation(out), max_indices


class UpsamplingBottleneck(nn.Module):
    def __init__(self, in_channels, out_channels, internal_ratio=4):
        super().__init__()
        internal = in_channels // internal_ratio
        self.main_conv1 = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.main_unpool1 = nn.MaxUnpool2d(kernel_size=2)
        self.ext_conv1 = _conv_bn_act(in_channels, internal, 1)
        self.ext_tconv1 = _conv_bn_act(internal, internal, 2, stride=2, transposed=True)
        self.ext_conv2 = nn.Sequential(nn.Conv2d(internal, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.ext_regul = nn.Dropout2d(p=0.1)
        self.out_activation = nn.ReLU()

    def forward(self, x, max_indices, output_size):
        main = self.main_unpool1(self.main_conv1(x), max_indices, output_size=output_size)
        ext = self.ext_regul(self.ext_conv2(self.ext_tconv1(self.ext_conv1(x))))
        return self.out_activation(main + ext)


class ENet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.initial_block = InitialBlock(3, 16)
        self.downsample1_0 = DownsamplingBottleneck(16, 32)
        self.regular1_1 = RegularBottleneck(32)
        self.dilated1_2 = RegularBottleneck(32, dilation=2, padding=2)
        self.asymmetric1_3 = RegularBottleneck(32, kernel_size=5, padding=2, asymmetric=True)
        self.upsample4_0 = UpsamplingBottleneck(32, 16)
        self.regular4_1 = RegularBottleneck(16)
        self.transposed_conv = nn.ConvTranspose2d(16, num_classes, 3, stride=2, padding=1, output_padding=1,
                                                  bias=False)

    def forward(self, x):
        x = self.initial_block(x)
        stage1_input_size = x.size()
        x, max_indices1_0 = self.downsample1_0(x)
        x = self.asymmetric1_3(self.dilated1_2(self.regular1_1(x)))
        x = self.upsample4_0(x, max_indices1_0, output_size=stage1_input_size)
        return self.transposed_conv(self.regular4_1(x))


def build_model() -> nn.Module:
    return ENet()
