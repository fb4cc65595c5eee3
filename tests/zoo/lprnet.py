"""LPRNet (licence-plate recognition) backbone as its PyTorch port writes it: small basic blocks
(1×1, 3×1, 1×3, 1×1 convs) and ``nn.MaxPool3d`` applied to 4-D feature maps, which pools across
channels (kernel (1, 3, 3) with channel strides 1, 2 and 4), then the (1, 4) and (13, 1) convolutions
and the logits averaged over the height. The global-context branch (a mean over the whole batch) is
left out. Input 24×94 as the original, widths reduced, batch 2."""

import torch.nn as nn

INPUT_SHAPE = (2, 3, 24, 94)


class small_basic_block(nn.Module):
    def __init__(self, ch_in, ch_out):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(ch_in, ch_out // 4, kernel_size=1), nn.ReLU(),
            nn.Conv2d(ch_out // 4, ch_out // 4, kernel_size=(3, 1), padding=(1, 0)), nn.ReLU(),
            nn.Conv2d(ch_out // 4, ch_out // 4, kernel_size=(1, 3), padding=(0, 1)), nn.ReLU(),
            nn.Conv2d(ch_out // 4, ch_out, kernel_size=1))

    def forward(self, x):
        return self.block(x)


class LPRNet(nn.Module):
    def __init__(self, class_num=12, dropout_rate=0.5):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=3, stride=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 1, 1)),
            small_basic_block(32, 64), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(2, 1, 2)),
            small_basic_block(32, 128), nn.BatchNorm2d(128), nn.ReLU(),
            small_basic_block(128, 128), nn.BatchNorm2d(128), nn.ReLU(),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(4, 1, 2)),
            nn.Dropout(dropout_rate),
            nn.Conv2d(32, 128, kernel_size=(1, 4), stride=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Dropout(dropout_rate),
            nn.Conv2d(128, class_num, kernel_size=(13, 1), stride=1), nn.BatchNorm2d(class_num), nn.ReLU())

    def forward(self, x):
        return self.backbone(x).mean(2)


def build_model() -> nn.Module:
    return LPRNet()
